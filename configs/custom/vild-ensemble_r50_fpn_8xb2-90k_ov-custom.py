# ViLD-ensemble on your own COCO-format dataset: the custom ViLD config with the image branch's
# own projection and, at test time, its class probabilities geometrically averaged with the
# text branch's (text weight 2/3 on the training vocabulary's classes, base_classes.txt, and
# 1/3 on the others). Same variables and region store as vild_r50_fpn_8xb2-90k_ov-custom.py.
_base_ = './vild_r50_fpn_8xb2-90k_ov-custom.py'

model = dict(roi_head=dict(bbox_head=dict(
    image_projection='separate',
    ensemble=dict(text_weight_base=2 / 3, text_weight_novel=1 / 3))))
