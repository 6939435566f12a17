# ViLD-text on OV-LVIS: Mask R-CNN R50-FPN (class-agnostic boxes and masks) whose RoI classifier
# is CLIP ViT-B/32 text embeddings of the 866 base classes in training and all 1203 at test
# time; repeat-factor sampling; 180k steps of 8 GPUs x 2 images. See configs/vild/README.md.
_base_ = 'mmdet::lvis/mask-rcnn_r50_fpn_sample1e-3_ms-1x_lvis-v1.py'
custom_imports = dict(imports=['ovdkit'], allow_failed_imports=False)

# Where your data and weights are: every setting below is built from these variables.
# To use other ones, set them in a config that inherits this one, or with
# --cfg-options data_root=/data/lvis/ clip_pretrained=/weights/clip.pt ...; OVDRunner (and
# tools/demo.py, tools/precompute_clip_regions.py) re-point every setting built from a changed
# variable and log it. ovdkit_variables records the values the settings were built from.
data_root = 'data/lvis/'                         # LVIS v1 + lvis2ovlvis.py's; images ../coco/
clip_model = 'ViT-B-32'                          # open_clip model name (512-d embeddings)
clip_pretrained = 'openai'                       # open_clip tag, or a local checkpoint file
backbone_checkpoint = 'torchvision://resnet50'   # ImageNet R50: local .pth, or None (random)
embeddings_dir = 'data/embeddings'               # text-embedding cache folder
ovdkit_variables = dict(data_root=data_root, clip_model=clip_model,
                        clip_pretrained=clip_pretrained,
                        backbone_checkpoint=backbone_checkpoint, embeddings_dir=embeddings_dir)
runner_type = 'OVDRunner'

vocabulary = dict(classes=data_root + 'annotations/lvis_v1_base_classes.txt',
                  model=clip_model, pretrained=clip_pretrained, templates='vild',
                  cache_dir=embeddings_dir)
model = dict(
    backbone=dict(init_cfg=dict(type='Pretrained', checkpoint=backbone_checkpoint)),
    roi_head=dict(
        bbox_head=dict(type='ViLDTextBBoxHead', vocabulary=vocabulary, embed_dim=512,
                       temperature=0.01, test_vocabulary=dict(classes='lvis')),
        mask_head=dict(class_agnostic=True)))

train_dataloader = dict(
    batch_size=2, num_workers=2,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(dataset=dict(
        type='OVLVISV1Dataset', classes_split='base', data_root=data_root,
        ann_file='annotations/lvis_v1_train_norare.json', data_prefix=dict(img='../coco/'))))
val_dataloader = dict(dataset=dict(
    type='OVLVISV1Dataset', classes_split='all', data_root=data_root,
    ann_file='annotations/lvis_v1_val.json', data_prefix=dict(img='../coco/')))
test_dataloader = val_dataloader
val_evaluator = dict(type='OVLVISMetric', ann_file=data_root + 'annotations/lvis_v1_val.json',
                     metric=['bbox', 'segm'])
test_evaluator = val_evaluator

max_iters = 180000
train_cfg = dict(_delete_=True, type='IterBasedTrainLoop', max_iters=max_iters,
                 val_interval=30000)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=1000),
    dict(type='MultiStepLR', by_epoch=False, begin=0, end=max_iters,
         milestones=[120000, 160000], gamma=0.1),
]
default_hooks = dict(checkpoint=dict(by_epoch=False, interval=30000, max_keep_ckpts=3,
                                     save_best='lvis/bbox_APr', rule='greater'))
log_processor = dict(by_epoch=False)
