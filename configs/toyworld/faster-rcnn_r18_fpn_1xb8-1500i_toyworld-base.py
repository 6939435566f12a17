# The toy world's base detector: mmdet's Faster R-CNN with a cosine classifier (NormedLinear) over
# the base categories, trained on base boxes only; every toy method starts from its weights and
# its RPN proposes ViLD's regions. Evaluated on the base categories (CocoMetric).
_base_ = [
    '../_base_/models/faster-rcnn_r18_fpn_toyworld.py',
    '../_base_/datasets/toyworld_detection.py',
    'mmdet::_base_/default_runtime.py',
]
custom_imports = dict(imports=['ovdkit'], allow_failed_imports=False)

world_root = 'work_dirs/toyworld/world/'
# 36 base categories in the default world (tools/toyworld.py sets the count of its world);
# class-agnostic boxes, as the open-vocabulary heads regress them, so the regressor carries over;
# a cosine classifier (scale 50 = the heads' temperature 0.02), as the open-vocabulary heads.
model = dict(roi_head=dict(bbox_head=dict(
    num_classes=36, reg_class_agnostic=True,
    cls_predictor_cfg=dict(type='NormedLinear', tempearture=50))))

val_dataloader = dict(dataset=dict(classes_split='base'))
test_dataloader = val_dataloader
val_evaluator = dict(_delete_=True, type='CocoMetric',
                     ann_file=world_root + 'annotations/val.json', metric='bbox')
test_evaluator = val_evaluator

max_iters = 1500
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters, val_interval=max_iters)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=50),
    dict(type='CosineAnnealingLR', by_epoch=False, begin=50, end=max_iters, T_max=max_iters - 50,
         eta_min=1e-5),
]
# fused: torch's one-kernel AdamW (CPU and CUDA).
optim_wrapper = dict(type='OptimWrapper',
                     optimizer=dict(type='AdamW', lr=2e-3, weight_decay=1e-4, fused=True),
                     clip_grad=dict(max_norm=10, norm_type=2))
default_hooks = dict(logger=dict(interval=50),
                     checkpoint=dict(by_epoch=False, interval=max_iters, max_keep_ckpts=1))
log_processor = dict(by_epoch=False)
randomness = dict(seed=0)
