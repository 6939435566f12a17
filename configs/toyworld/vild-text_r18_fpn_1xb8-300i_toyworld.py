# ViLD-text on the toy world: the RoI classifier is the toy CLIP's frozen text embeddings of
# the class names (one caption form, templates='single'); trained on base boxes, tested on
# every category; 300 iterations (tools/toyworld.py starts them from the base detector).
_base_ = [
    '../_base_/models/faster-rcnn_r18_fpn_toyworld.py',
    '../_base_/datasets/toyworld_detection.py',
    'mmdet::_base_/default_runtime.py',
]
custom_imports = dict(imports=['ovdkit'], allow_failed_imports=False)

work_root = 'work_dirs/toyworld/'
vocabulary = dict(
    classes=work_root + 'world/annotations/base_classes.txt',
    model='OVD-TinyCLIP-RN', pretrained=work_root + 'clip/toyclip.pt', templates='single',
    cache_dir=work_root + 'embeddings')
model = dict(roi_head=dict(bbox_head=dict(
    type='ViLDTextBBoxHead', vocabulary=vocabulary, embed_dim=128, temperature=0.02,
    test_vocabulary=dict(classes=work_root + 'world/annotations/all_classes.txt'))))

max_iters = 300
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters, val_interval=max_iters)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=19),
    dict(type='CosineAnnealingLR', by_epoch=False, begin=19, end=max_iters, T_max=max_iters - 19,
         eta_min=1e-5),
]
# fused: torch's one-kernel AdamW (CPU and CUDA).
optim_wrapper = dict(type='OptimWrapper',
                     optimizer=dict(type='AdamW', lr=2e-3, weight_decay=1e-4, fused=True),
                     clip_grad=dict(max_norm=10, norm_type=2))
default_hooks = dict(logger=dict(interval=50),
                     checkpoint=dict(by_epoch=False, interval=max_iters, max_keep_ckpts=1))
log_processor = dict(by_epoch=False)
# Same world, same numbers: the detector's initialisation and sampling are seeded too.
randomness = dict(seed=0)
