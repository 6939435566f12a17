# ViLD-ensemble on your own COCO-format dataset: the custom ViLD config with the image branch's
# own projection and the text / image ensemble at test time (text weight 2/3 on the training
# vocabulary's classes, 1/3 on others). Same variables and region store as the ViLD config.
_base_ = './vild_r50_fpn_8xb2-90k_ov-custom.py'

model = dict(roi_head=dict(bbox_head=dict(
    image_projection='separate',
    ensemble=dict(text_weight_base=2 / 3, text_weight_novel=1 / 3))))
