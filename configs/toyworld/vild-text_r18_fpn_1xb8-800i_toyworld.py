# ViLD-text on the toy world: the RoI classifier is the frozen text embeddings of the toy CLIP
# (loaded through pretrained=PATH like real CLIP weights), trained on base boxes only, tested
# on every category. 2000 train images / batch 8 = 250 iters an epoch; 800 iters ~ 3.2 epochs.
_base_ = [
    '../_base_/models/faster-rcnn_r18_fpn_toyworld.py',
    '../_base_/datasets/toyworld_detection.py',
    'mmdet::_base_/default_runtime.py',
]
custom_imports = dict(imports=['ovdkit'], allow_failed_imports=False)

work_root = 'work_dirs/toyworld/'
vocabulary = dict(
    classes=work_root + 'world/annotations/base_classes.txt',
    model='OVD-TinyCLIP-RN', pretrained=work_root + 'clip/toyclip.pt', templates='vild',
    cache_dir=work_root + 'embeddings')
model = dict(roi_head=dict(bbox_head=dict(
    type='ViLDTextBBoxHead', vocabulary=vocabulary, embed_dim=128, temperature=0.02,
    test_vocabulary=dict(classes=work_root + 'world/annotations/all_classes.txt'))))

max_iters = 800
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters, val_interval=max_iters)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=50),
    dict(type='CosineAnnealingLR', by_epoch=False, begin=50, end=max_iters, T_max=max_iters - 50,
         eta_min=1e-5),
]
optim_wrapper = dict(type='OptimWrapper',
                     optimizer=dict(type='AdamW', lr=1e-3, weight_decay=1e-4),
                     clip_grad=dict(max_norm=10, norm_type=2))
default_hooks = dict(logger=dict(interval=50),
                     checkpoint=dict(by_epoch=False, interval=max_iters, max_keep_ckpts=1))
log_processor = dict(by_epoch=False)
# Same world, same numbers: the detector's initialisation and sampling are seeded too.
randomness = dict(seed=0)
