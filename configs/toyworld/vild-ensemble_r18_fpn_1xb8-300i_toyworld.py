# ViLD-ensemble on the toy world: the image branch has its own projection and, at test time,
# its class probabilities are geometrically averaged with the text branch's (text weight 2/3
# on base classes, 1/3 on novel ones, as ViLD).
_base_ = './vild_r18_fpn_1xb8-300i_toyworld.py'

model = dict(roi_head=dict(bbox_head=dict(
    image_projection='separate',
    ensemble=dict(text_weight_base=2 / 3, text_weight_novel=1 / 3))))
