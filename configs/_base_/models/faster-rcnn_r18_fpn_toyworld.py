# Faster R-CNN R-18 FPN sized for 128 px scenes on a CPU: 32 base channels, a 64-channel FPN on
# strides 8-64 (P3-P6), anchors from 16 px. Random init (no pretrained download).
# Cheaper steps for the 10-minute demo (CPU seconds of a training step, one thread, batch 8):
# 64 sampled RoIs and 100 RPN proposals an image instead of mmdet's 128 / 300 (scenes hold at
# most 6 objects): 0.57 -> 0.45 s; no stride-4 level (P2; the anchors keep their sizes, 16 px at
# stride 8 instead of 4, and objects of 24-44 px are pooled from P3 as 3-6 cells): -> 0.28 s.
# 32 sampled RoIs would save 14% more (100 iterations 30.5 -> 26.1 CPU s), but the base
# detector's base AP50 after 1500 iterations fell from 80.4 to 43.7 (seed 0): kept at 64.
# Training proposals from the top 300 anchors a level instead of 1000 saved 5% of a step
# (100 iterations 35.1 -> 33.2 CPU s) but the seed-0 base detector came out at 69.6 base AP50
# (with fused AdamW; 80.4 before): not taken.
# RoI features by GatherRoIAlign (ovdkit.models): mmcv's RoIAlign values as an embedding_bag
# gather; mmcv's CPU backward took 51 of ~300 ms a step. Backbone and FPN train in bfloat16
# autocast (AutocastTrunkFasterRCNN; heads, losses and inference in float32): -14-18% a step.
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
