# ViLD on the toy world plus weakly labelled scenes: ViLD's distillation and box losses on the
# base-boxed scenes, the image labels of ViLD-text's image-label config on the weak ones (which
# have no CLIP regions: they are not distilled). See README.md.
_base_ = './vild_r18_fpn_1xb8-300i_toyworld.py'

work_root = 'work_dirs/toyworld/'
weak_root = work_root + 'weak/'
model = dict(
    rpn_head=dict(type='ImageLabelRPNHead'),
    roi_head=dict(
        type='ImageLabelViLDRoIHead',
        image_label_vocabulary=dict(classes=work_root + 'world/annotations/all_classes.txt'),
        loss_image_label=dict(type='MaxSizeImageLabelLoss', num_proposals=32,
                              loss_type='softmax', loss_weight=0.1)))

image_label_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='Resize', scale=(128, 128), keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackImageLabelInputs'),
]
image_label_dataset = dict(type='ImageLabelDataset', data_root=weak_root,
                           ann_file='annotations/weak_1000.json', label_source='pos_category_ids',
                           data_prefix=dict(img='images/'), pipeline=image_label_pipeline)
batch_size = 12
train_dataloader = dict(
    batch_size=batch_size,
    sampler=dict(_delete_=True, type='CheckedMultiSourceSampler', batch_size=batch_size,
                 source_ratio=[2, 1]),
    batch_sampler=None,
    dataset=dict(_delete_=True, type='ImageLabelConcatDataset',
                 datasets=[{{_base_.train_dataloader.dataset}}, image_label_dataset]))
