# ViLD-text on your own COCO-format dataset and base / novel split: the OV-COCO ViLD-text recipe
# reading what tools/dataset_converters/coco2ov.py writes (data_root + 'annotations/', images
# under data_root + 'images/'). See docs/custom_dataset.md and configs/custom/README.md.
_base_ = '../vild/vild-text_r50_fpn_8xb2-90k_ov-coco.py'

data_root = 'data/custom/'                       # images/ and coco2ov.py's annotations/
# clip_model, clip_pretrained, backbone_checkpoint and embeddings_dir: as in the base config
ovdkit_variables = dict(data_root=data_root)     # merged into the base config's record

base_classes_file = data_root + 'annotations/base_classes.txt'
novel_classes_file = data_root + 'annotations/novel_classes.txt'
all_classes_file = data_root + 'annotations/all_classes.txt'
model = dict(roi_head=dict(bbox_head=dict(vocabulary=dict(classes=base_classes_file),
                                          test_vocabulary=dict(classes=all_classes_file))))

train_dataloader = dict(dataset=dict(
    _delete_=True, type='OVCustomDataset', data_root=data_root, classes=base_classes_file,
    ann_file='annotations/train_base.json', data_prefix=dict(img='images/'),
    filter_cfg=dict(filter_empty_gt=True, min_size=32), pipeline={{_base_.train_pipeline}}))
val_dataloader = dict(dataset=dict(
    _delete_=True, type='OVCustomDataset', data_root=data_root, classes=all_classes_file,
    novel_classes=novel_classes_file, ann_file='annotations/val_all.json',
    data_prefix=dict(img='images/'), test_mode=True, pipeline={{_base_.test_pipeline}}))
test_dataloader = val_dataloader
val_evaluator = dict(type='OVCocoAllMetric', ann_file=data_root + 'annotations/val_all.json')
test_evaluator = val_evaluator
