# ViLD-ensemble on OV-COCO: the image branch gets its own projection and, at test time, its
# class probabilities are geometrically averaged with the text branch's (text weight 2/3 on
# base classes, 1/3 on novel ones).
_base_ = './vild_r50_fpn_8xb2-90k_ov-coco.py'

model = dict(roi_head=dict(bbox_head=dict(
    image_projection='separate',
    ensemble=dict(text_weight_base=2 / 3, text_weight_novel=1 / 3))))
