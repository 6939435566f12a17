# ViLD-text on OV-COCO plus COCO-caption image labels (Detic's recipe): each batch of a GPU takes
# 2 box-labelled base images (800 px) and 8 COCO train images labelled with the OV-COCO classes
# (base and novel) their captions name (400 px), Detic's DATASET_BS [2, 8]; the caption images
# train the classifier on their largest proposal only (no RPN, no box loss). See
# configs/image_labels/README.md and docs/image_labels.md.
_base_ = '../vild/vild-text_r50_fpn_8xb2-90k_ov-coco.py'

data_root = 'data/coco/'                         # as the base config's; re-pointed with it
# tools/dataset_converters/captions2labels.py's output, under data_root
caption_labels = 'annotations/captions_train2017_ov-coco_labels.json'

model = dict(
    rpn_head=dict(type='ImageLabelRPNHead'),
    roi_head=dict(
        type='ImageLabelRoIHead',
        image_label_vocabulary=dict(classes='ov-coco'),
        # Detic's OV-COCO setting: the largest of the 32 most confident proposals, weight 0.1;
        # a softmax head takes Detic's softmax form (docs/image_labels.md says why)
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
            dict(type='ImageLabelDataset', data_root=data_root, ann_file=caption_labels,
                 classes='ov-coco', data_prefix=dict(img='train2017/'),
                 pipeline=image_label_pipeline),
        ]))
