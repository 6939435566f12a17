"""The mutants of tools/dev/mutation_check.py: test sets, the table of one-line breaks,
equivalent mutants and the functions whose operators are mutated. Edit this file to extend the
check."""

_HEADS = ['tests/test_models/test_head_formulas.py']
#: module (relative to the package) -> (test files, pytest -k expression or None); the
#: files that pin formulas come first, so a killed mutant stops early (pytest -x).
TEST_SETS = {
    'models/text_embedding_classifier.py': (
        _HEADS + ['tests/test_models/test_vild_text_bbox_head.py',
                  'tests/test_models/test_vild_image_head.py'], None),
    'models/vild_bbox_head.py': (_HEADS + ['tests/test_models/test_vild_image_head.py'], None),
    'models/vild_distillation_loss.py': (
        _HEADS + ['tests/test_models/test_vild_image_head.py'], 'distill'),
    'models/vild_roi_head.py': (_HEADS + ['tests/test_models/test_vild_image_head.py'], None),
    'models/grounding_region_word_aligner.py': (
        _HEADS + ['tests/test_models/test_grounding_head.py'], None),
    'models/grounding_positive_map.py': (
        _HEADS + ['tests/test_models/test_grounding_head.py',
                  'tests/test_models/test_grounding_prompts.py'], None),
    'models/grounding_bbox_head.py': (
        _HEADS + ['tests/test_models/test_grounding_head.py'], None),
    'models/bbox_nms.py': (
        ['tests/test_models/test_shared_box_nms.py', 'tests/test_apis/test_vocab_scaling.py'],
        'shared_box or nothing_above or growth'),
    'datasets/transforms/load_clip_regions.py': (
        ['tests/test_datasets/test_load_clip_regions.py'], None),
    'regions/crops.py': (['tests/test_regions/test_clip_region_embedder.py',
                          'tests/test_regions/test_precompute_clip_regions.py'],
                         'combines or store_contents or recomputed'),
    'regions/clip_region_embedder.py': (['tests/test_regions/test_clip_region_embedder.py',
                                         'tests/test_regions/test_precompute_clip_regions.py'],
                                        'combines or store_contents or recomputed'),
    'evaluation/ov_coco_all_metric.py': (
        ['tests/test_evaluation/test_ov_coco_all_metric.py',
         'tests/test_tools/test_train_test_tools.py'],
        'novel_base_all or ov_coco'),
    'deploy/exportable_detector.py': (['tests/test_deploy/test_onnx_export.py'],
                                      'interface or clipped or position'),
    'deploy/onnx_detector.py': (['tests/test_deploy/test_onnx_export.py'], 'position'),
    'apis/webdemo/session.py': (['tests/test_tools/test_webdemo.py'], 'threshold or bounded'),
}

#: One-line breaks the tests must catch: (id, module, exact old text, new text).
TABLE = [
    ('T1-vild-text-no-l2-norm', 'models/text_embedding_classifier.py',
     'return F.normalize(self.projection(x), dim=-1)', 'return self.projection(x)'),
    ('T2-vild-text-no-temperature', 'models/text_embedding_classifier.py',
     'return emb @ weights.t() / self.temperature', 'return emb @ weights.t()'),
    ('T3-grounding-no-temperature', 'models/grounding_region_word_aligner.py',
     'return regions @ self.token_features.t() / self.temperature + bias',
     'return regions @ self.token_features.t() + bias'),
    ('T4-ensemble-weights-by-position', 'models/vild_bbox_head.py',
     '[name in base for name in self.test_classes]',
     '[i < len(base) for i, name in enumerate(self.test_classes)]'),
    ('T5-ensemble-mask-cached-by-length', 'models/vild_bbox_head.py',
     'key = (self.test_classes, self.fc_cls.class_embeddings.device)',
     'key = (len(self.test_classes), self.fc_cls.class_embeddings.device)'),
    ('T6-nms-never-grows', 'models/bbox_nms.py',
     'if (complete and top.numel() == total) or len(keep) >= max_num:', 'if True:'),
    ('T7a-regions-min-visible-0.6', 'datasets/transforms/load_clip_regions.py',
     'min_visible: float = 0.9', 'min_visible: float = 0.6'),
    ('T7b-regions-no-min-size', 'datasets/transforms/load_clip_regions.py',
     'keep = (visible >= self.min_visible) & (wh[0] >= self.min_size) & \\\n'
     '                (wh[1] >= self.min_size)',
     'keep = (visible >= self.min_visible)'),
    ('T8a-regions-only-1x-crops', 'regions/clip_region_embedder.py',
     'square_crop_boxes(image_boxes, scale)', 'square_crop_boxes(image_boxes, 1.0)'),
    ('T8b-regions-non-square-crops', 'regions/crops.py',
     '(boxes[:, 2:] - boxes[:, :2]).amax(dim=1, keepdim=True) * scale / 2',
     '(boxes[:, 2:] - boxes[:, :2]) * scale / 2'),
    ('T9-all-ap50-mean-of-novel-and-base', 'evaluation/ov_coco_all_metric.py',
     "metrics['all_ap50'] = metrics['bbox_mAP_50']",
     "metrics['all_ap50'] = round((metrics['novel_ap50'] + metrics['base_ap50']) / 2, 3)"),
    # Deployment and the web demo: wrong answers that no interface change reveals.
    ('D1-onnx-clip-by-height-width', 'deploy/exportable_detector.py',
     'max_xy = img_hw.flip(0).repeat(2)', 'max_xy = img_hw.repeat(2)'),
    ('D2a-onnx-boxes-never-clipped', 'deploy/exportable_detector.py',
     'return torch.minimum(boxes.clamp(min=0), max_xy)', 'return boxes'),
    ('D2b-onnx-final-boxes-unclipped', 'deploy/exportable_detector.py',
     'coder.means, coder.stds,\n                              img_hw)',
     'coder.means, coder.stds,\n                              img_hw * 1000)'),
    ('D3-onnx-ensemble-weights-by-position', 'deploy/exportable_detector.py',
     'scores = self.class_scores(x, class_embeddings, base_mask)',
     'scores = self.class_scores(x, class_embeddings, (torch.arange(base_mask.shape[0]) < '
     'base_mask.sum()).to(base_mask.dtype))'),
    ('D4-onnx-detector-base-mask-by-position', 'deploy/onnx_detector.py',
     '[name in base for name in names]', '[i < len(base) for i, name in enumerate(names)]'),
    ('W1-webdemo-ignores-score-threshold', 'apis/webdemo/session.py',
     'detections=detection_records(prediction, thr)',
     'detections=detection_records(prediction, 0.0)'),
    ('W2-webdemo-cache-unbounded', 'apis/webdemo/session.py',
     'while len(self.cached) > self.max_vocabularies:', 'while False:'),
]

#: Mutants argued equivalent (the tests cannot and need not kill them), with the argument.
#: They are listed but not run unless ``--run-equivalent``: both run the slowest test set.
EQUIVALENT = {
    'models/bbox_nms.py:shared_box_multiclass_nms:L96:c62:0->1':
        'max_num = 1 then starts from every candidate pair instead of the top 4: the same '
        'survivors, found in one NMS instead of a few',
    'models/bbox_nms.py:shared_box_multiclass_nms:L110:c50:GtE->Gt':
        'with exactly max_num survivors the set grows once more; the best max_num survivors '
        'of a larger top-k are the same pairs (the function\'s own argument)',
    'models/bbox_nms.py:shared_box_multiclass_nms:L60:c46:1->2':
        'the default max_num -2 instead of -1 is still <= 0: keep every survivor',
    'models/bbox_nms.py:_kth_best_lower_bound:L32:c7:Lt->LtE':
        'with exactly k maxima there is no bound: every pair above score_thr is gathered, '
        'a superset of the candidates, so the same survivors',
    'models/bbox_nms.py:_pairs_above:L46:c13:Gt->GtE':
        'blocks whose maximum equals score_thr are read too; their pairs fail the exact test',
    'models/bbox_nms.py:_pairs_above:L46:c47:GtE->Gt':
        'pairs equal to the bound are left out: any cutoff gives the exact survivors above '
        'it, and the set grows if fewer than max_num survive',
    'models/bbox_nms.py:_pairs_above:L48:c7:Gt->GtE':
        'when to read every pair instead of blocks: speed only, the same pairs',
    'models/bbox_nms.py:_pairs_above:L48:c7:Mult->Div':
        'when to read every pair instead of blocks: speed only, the same pairs',
    "models/bbox_nms.py:_pairs_above:L48:c7:Mult->Div'":
        'when to read every pair instead of blocks: speed only, the same pairs',
    'models/bbox_nms.py:_pairs_above:L48:c36:4->5':
        'when to read every pair instead of blocks: speed only, the same pairs',
    'models/bbox_nms.py:_pairs_above:L49:c55:GtE->Gt':
        'as L46 GtE->Gt on the path reading every pair: a cutoff just above the bound',
    'models/bbox_nms.py:_pairs_above:L55:c46:GtE->Gt':
        'as L46 GtE->Gt on the block path: a cutoff just above the bound',
    'models/bbox_nms.py:_block_maxima:L25:c38:Gt->GtE':
        'torch.cat of a single tensor is that tensor\'s values',
    'models/bbox_nms.py:shared_box_multiclass_nms:L88:c18:Sub->Add':
        'num_classes only keys the row-major order of equal scores: C + 1 keeps that order',
    'models/bbox_nms.py:shared_box_multiclass_nms:L92:c8:4->5':
        'the first candidate set is 5 x max_num pairs instead of 4: speed only',
    'models/bbox_nms.py:shared_box_multiclass_nms:L112:c12:4->5':
        'the candidate set grows 5x instead of 4x: speed only',
    'models/bbox_nms.py:shared_box_multiclass_nms:L104:c21:0->1':
        'max_num = 1 then sends every candidate pair to NMS instead of the top 4: the same '
        'survivors',
    'models/bbox_nms.py:shared_box_multiclass_nms:L90:c44:Gt->GtE':
        'block maxima of no class column are an empty (N, 0), as the columns themselves',
    'models/bbox_nms.py:shared_box_multiclass_nms:L90:c58:0->1':
        'with one class its blocks of one column are the column itself',
    'models/vild_bbox_head.py:vild_ensemble_probabilities:L34:c11:skip-clamp':
        'differs only where a text probability underflows below 1e-12: a score change '
        'below 1e-8',
    'models/vild_bbox_head.py:vild_ensemble_probabilities:L35:c8:skip-clamp':
        'differs only where an image probability underflows below 1e-12: a score change '
        'below 1e-8',
    'models/vild_distillation_loss.py:ViLDDistillationLoss.current_weight:L31:c32:0->1':
        'warmup_iters = 1 then skips the ramp, whose factor min(1, (iter + 1) / 1) is 1',
    'models/vild_distillation_loss.py:ViLDDistillationLoss.forward:L52:c45:0->1':
        'the sum of an empty tensor is 0, so sum() * 1 is the same attached zero',
    'models/vild_roi_head.py:ViLDRoIHead._distill_targets:L51:c56:Gt->GtE':
        'with exactly num_distill_regions regions all are kept, in another order: boxes and '
        'targets move together and the loss is a mean',
    'regions/crops.py:square_crop_boxes:L8:c58:1.0->2.0':
        'a default never used: the embedder passes every crop scale explicitly',
}

#: module -> the functions / methods (``Class.method``) whose operators are mutated.
TARGETS = {
    'models/text_embedding_classifier.py': ['TextEmbeddingClassifier.set_class_embeddings',
                                            'TextEmbeddingClassifier.embed',
                                            'TextEmbeddingClassifier.forward'],
    'models/bbox_nms.py': ['_block_maxima', '_kth_best_lower_bound', '_pairs_above',
                           'shared_box_multiclass_nms'],
    'models/vild_bbox_head.py': ['vild_ensemble_probabilities',
                                 'ViLDBBoxHead.image_embeddings_of',
                                 'ViLDBBoxHead._base_class_mask', 'ViLDBBoxHead.forward'],
    'models/vild_distillation_loss.py': ['ViLDDistillationLoss.current_weight',
                                         'ViLDDistillationLoss.forward'],
    'models/vild_roi_head.py': ['ViLDRoIHead._distill_targets'],
    'models/grounding_region_word_aligner.py': ['RegionWordAligner._prior_bias',
                                                'RegionWordAligner.forward',
                                                'RegionWordAligner.class_scores'],
    'models/grounding_positive_map.py': ['class_scores_from_token_scores'],
    'models/grounding_bbox_head.py': ['GroundingBBoxHead._with_background',
                                      'GroundingBBoxHead.loss'],
    'datasets/transforms/load_clip_regions.py': ['LoadCLIPRegions.__init__',
                                                 'LoadCLIPRegions.transform'],
    'regions/crops.py': ['square_crop_boxes', 'crop_and_normalize'],
    'regions/clip_region_embedder.py': ['CLIPRegionEmbedder.forward'],
}
