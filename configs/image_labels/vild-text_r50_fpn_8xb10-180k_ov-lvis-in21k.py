# ViLD-text on OV-LVIS plus ImageNet-21k image labels of LVIS classes (Detic's IN-L recipe):
# each batch of a GPU takes 2 box-labelled LVIS-base images and 8 ImageNet-21k images at half
# the size, Detic's ratio 1:4; the ImageNet images train the classifier on their largest
# proposal only (no RPN, no box or mask loss), against all 1203 LVIS names. See
# configs/image_labels/README.md and docs/image_labels.md.
_base_ = '../vild/vild-text_r50_fpn_8xb2-180k_ov-lvis.py'

data_root = 'data/lvis/'                         # as the base config's; re-pointed with it
# tools/dataset_converters/imagenet2labels.py's output, under data_root; its file names are
# relative to the ImageNet-21k folder, data_root + '../imagenet21k/'
imagenet_labels = 'annotations/imagenet21k_lvis_image_labels.json'

model = dict(
    rpn_head=dict(type='ImageLabelRPNHead'),
    roi_head=dict(
        type='ImageLabelRoIHead',
        image_label_vocabulary=dict(classes='lvis'),
        # Detic's LVIS setting: the largest of the 128 most confident proposals, weight 0.1
        loss_image_label=dict(type='MaxSizeImageLabelLoss', num_proposals=128,
                              loss_type='softmax', loss_weight=0.1)))

image_label_pipeline = [
    dict(type='LoadImageFromFile'),
    # empty boxes and masks: a batch's samples all carry the same fields (mmdet pads masks)
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
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
            dict(type='ImageLabelDataset', data_root=data_root, ann_file=imagenet_labels,
                 classes='lvis', data_prefix=dict(img='../imagenet21k/'),
                 pipeline=image_label_pipeline),
        ]))
