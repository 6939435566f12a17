# ViLD-text on OV-COCO: Faster R-CNN R50-FPN whose RoI classifier is CLIP ViT-B/32 text
# embeddings (80-prompt ensemble) of the 48 base classes in training and all 65 at test time;
# 90k steps of 8 GPUs x 2 images. See configs/vild/README.md.
_base_ = 'mmdet::faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py'
custom_imports = dict(imports=['ovdkit'], allow_failed_imports=False)

# Where your data and weights are: every setting below is built from these variables.
# To use other ones, set them in a config that inherits this one, or with
# --cfg-options data_root=/data/coco/ clip_pretrained=/weights/clip.pt ...; OVDRunner (and
# tools/demo.py, tools/precompute_clip_regions.py) re-point every setting built from a changed
# variable and log it. ovdkit_variables records the values the settings were built from.
data_root = 'data/coco/'                         # COCO 2017 + coco2ovcoco.py's files
clip_model = 'ViT-B-32'                          # open_clip model name (512-d embeddings)
clip_pretrained = 'openai'                       # open_clip tag, or a local checkpoint file
backbone_checkpoint = 'torchvision://resnet50'   # ImageNet R50: local .pth, or None (random)
embeddings_dir = 'data/embeddings'               # text-embedding cache folder
ovdkit_variables = dict(data_root=data_root, clip_model=clip_model,
                        clip_pretrained=clip_pretrained,
                        backbone_checkpoint=backbone_checkpoint, embeddings_dir=embeddings_dir)
runner_type = 'OVDRunner'

vocabulary = dict(classes='ov-coco-base', model=clip_model, pretrained=clip_pretrained,
                  templates='vild', cache_dir=embeddings_dir)
model = dict(
    backbone=dict(init_cfg=dict(type='Pretrained', checkpoint=backbone_checkpoint)),
    roi_head=dict(bbox_head=dict(
        type='ViLDTextBBoxHead', vocabulary=vocabulary, embed_dim=512, temperature=0.01,
        test_vocabulary=dict(classes='ov-coco'))))

train_dataloader = dict(
    batch_size=2, num_workers=2,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(type='OVCocoDataset', classes_split='base', data_root=data_root,
                 ann_file='annotations/instances_train2017_seen_2.json',
                 data_prefix=dict(img='train2017/')))
val_dataloader = dict(
    dataset=dict(type='OVCocoDataset', classes_split='all', data_root=data_root,
                 ann_file='annotations/instances_val2017_all_2.json',
                 data_prefix=dict(img='val2017/')))
test_dataloader = val_dataloader
val_evaluator = dict(type='OVCocoAllMetric',
                     ann_file=data_root + 'annotations/instances_val2017_all_2.json')
test_evaluator = val_evaluator

max_iters = 90000
train_cfg = dict(_delete_=True, type='IterBasedTrainLoop', max_iters=max_iters,
                 val_interval=10000)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=1000),
    dict(type='MultiStepLR', by_epoch=False, begin=0, end=max_iters,
         milestones=[60000, 80000], gamma=0.1),
]
default_hooks = dict(checkpoint=dict(by_epoch=False, interval=10000, max_keep_ckpts=3,
                                     save_best='coco/novel_ap50', rule='greater'))
log_processor = dict(by_epoch=False)
auto_scale_lr = dict(enable=False, base_batch_size=16)
