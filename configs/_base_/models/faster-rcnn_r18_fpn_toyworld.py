# Faster R-CNN R-18 FPN sized for 128 px toy scenes on a CPU: 32 base channels, a 64-channel FPN
# on P3-P6, anchors from 16 px, 64 sampled RoIs and 100 proposals an image, random init; RoIs
# pooled by GatherRoIAlign, backbone + FPN in bfloat16 autocast (ovdkit.models.cpu_training).
_base_ = 'mmdet::_base_/models/faster-rcnn_r50_fpn.py'

model = dict(
    type='AutocastTrunkFasterRCNN', trunk_dtype='bfloat16',
    backbone=dict(depth=18, base_channels=32, frozen_stages=-1, norm_eval=False,
                  init_cfg=None),
    neck=dict(in_channels=[32, 64, 128, 256], out_channels=64, start_level=1, num_outs=4),
    rpn_head=dict(in_channels=64, feat_channels=64,
                  anchor_generator=dict(scales=[2], strides=[8, 16, 32, 64])),
    roi_head=dict(
        bbox_roi_extractor=dict(
            type='RegistryRoIExtractor', out_channels=64, featmap_strides=[8, 16, 32, 64],
            roi_layer=dict(type='GatherRoIAlign', output_size=7, sampling_ratio=0)),
        bbox_head=dict(in_channels=64, fc_out_channels=256)),
    train_cfg=dict(
        rpn_proposal=dict(nms_pre=1000, max_per_img=100),
        rcnn=dict(sampler=dict(num=64))),
    test_cfg=dict(
        rpn=dict(nms_pre=500, max_per_img=100),
        rcnn=dict(score_thr=0.01, max_per_img=50)))
