# The toy open-vocabulary world (python tools/toyworld.py writes it): train on base-category
# annotations, evaluate novel / base / all AP50 on val with every object annotated.
# Paths follow the default work dir; tools/toyworld.py points them at its own.
world_root = 'work_dirs/toyworld/world/'
image_scale = (128, 128)

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='Resize', scale=image_scale, keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=image_scale, keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='PackDetInputs',
         meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor')),
]
# One process: on 2 cores a loader worker only competes with the training step.
train_dataloader = dict(
    batch_size=8, num_workers=0, persistent_workers=False,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    batch_sampler=dict(type='AspectRatioBatchSampler'),
    dataset=dict(type='ToyWorldDataset', classes_split='base', data_root=world_root,
                 ann_file='annotations/train.json', data_prefix=dict(img='images/'),
                 filter_cfg=dict(filter_empty_gt=True, min_size=4), pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=8, num_workers=0, persistent_workers=False, drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type='ToyWorldDataset', classes_split='all', data_root=world_root,
                 ann_file='annotations/val.json', data_prefix=dict(img='images/'),
                 test_mode=True, pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='OVCocoAllMetric', ann_file=world_root + 'annotations/val.json',
                     metric='bbox', format_only=False)
test_evaluator = val_evaluator
