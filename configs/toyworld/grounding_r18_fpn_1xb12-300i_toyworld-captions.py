# Grounding on the toy world plus captioned scenes (GLIP's and Detic's signal): the weak scenes'
# captions name every object in them; the names they contain (Detic's caption protocol) are
# the scenes' labels, and their tokens in the prompt of every name are the positives of each
# scene's largest proposal (binary cross-entropy over tokens). See README.md.
_base_ = './grounding_r18_fpn_1xb8-300i_toyworld.py'

work_root = 'work_dirs/toyworld/'
weak_root = work_root + 'weak/'
model = dict(
    rpn_head=dict(type='ImageLabelRPNHead'),
    roi_head=dict(
        type='ImageLabelRoIHead',
        image_label_vocabulary=dict(classes=work_root + 'world/annotations/all_classes.txt'),
        loss_image_label=dict(type='MaxSizeImageLabelLoss', num_proposals=32, loss_type='bce',
                              loss_weight=0.1)))

image_label_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='Resize', scale=(128, 128), keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackImageLabelInputs'),
]
image_label_dataset = dict(type='ImageLabelDataset', data_root=weak_root,
                           ann_file='annotations/weak_1000.json', label_source='captions',
                           data_prefix=dict(img='images/'), pipeline=image_label_pipeline)
batch_size = 12
train_dataloader = dict(
    batch_size=batch_size,
    sampler=dict(_delete_=True, type='CheckedMultiSourceSampler', batch_size=batch_size,
                 source_ratio=[2, 1]),
    batch_sampler=None,
    dataset=dict(_delete_=True, type='ImageLabelConcatDataset',
                 datasets=[{{_base_.train_dataloader.dataset}}, image_label_dataset]))
