# ViLD-ensemble on OV-LVIS: separate image-branch projection, geometric-mean ensemble at test
# time (text weight 2/3 on base = common + frequent classes, 1/3 on rare ones).
_base_ = './vild_r50_fpn_8xb2-180k_ov-lvis.py'

model = dict(roi_head=dict(bbox_head=dict(
    image_projection='separate',
    ensemble=dict(text_weight_base=2 / 3, text_weight_novel=1 / 3))))
