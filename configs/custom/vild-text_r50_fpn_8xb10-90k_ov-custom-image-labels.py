# ViLD-text on your own dataset: your base boxes (coco2ov.py's files) plus your images that carry
# only class labels (Detic's recipe). Each batch of a GPU takes 2 box-labelled images and 8
# image-labelled ones at half the size; the labels (novel classes too) train the classifier on
# each image's largest proposal. The image-label file is COCO-format: "images" with
# "pos_category_ids" (ids of its "categories", named as in all_classes.txt), or with "captions"
# (then label_source='captions': the classes the captions name). See docs/image_labels.md.
_base_ = './vild-text_r50_fpn_8xb2-90k_ov-custom.py'

data_root = 'data/custom/'                       # images/ and coco2ov.py's annotations/
ovdkit_variables = dict(data_root=data_root)     # merged into the base config's record
image_labels = 'annotations/image_labels.json'   # your image-label file, under data_root
all_classes_file = data_root + 'annotations/all_classes.txt'

model = dict(
    rpn_head=dict(type='ImageLabelRPNHead'),
    roi_head=dict(
        type='ImageLabelRoIHead',
        image_label_vocabulary=dict(classes=all_classes_file),
        loss_image_label=dict(type='MaxSizeImageLabelLoss', num_proposals=32,
                              loss_type='softmax', loss_weight=0.1)))

image_label_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='Resize', scale=(667, 400), keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackImageLabelInputs'),
]
batch_size = 10
train_dataloader = dict(
    batch_size=batch_size,
    sampler=dict(_delete_=True, type='CheckedMultiSourceSampler', batch_size=batch_size,
                 source_ratio=[1, 4]),
    batch_sampler=None,
    dataset=dict(
        _delete_=True, type='ImageLabelConcatDataset',
        datasets=[
            {{_base_.train_dataloader.dataset}},
            dict(type='ImageLabelDataset', data_root=data_root, ann_file=image_labels,
                 classes=all_classes_file, label_source='pos_category_ids',
                 data_prefix=dict(img='images/'), pipeline=image_label_pipeline),
        ]))
