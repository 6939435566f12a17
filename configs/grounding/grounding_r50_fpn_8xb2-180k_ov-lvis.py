# GLIP-style region-word grounding on OV-LVIS: ViLD-text's Mask R-CNN, data and schedule with the
# RoI classifier replaced by alignment against CLIP ViT-B/32 token features of the class names
# (866 base names in training, 1203 at test time). See configs/grounding/README.md.
_base_ = '../vild/vild-text_r50_fpn_8xb2-180k_ov-lvis.py'

model = dict(roi_head=dict(bbox_head=dict(
    type='GroundingBBoxHead', embed_dim=512, temperature=0.05, prior_prob=0.01, fusion=None,
    names_per_prompt=1, class_tokens='eot',
    loss_cls=dict(_delete_=True, type='FocalLoss', use_sigmoid=True, gamma=2.0, alpha=0.25,
                  loss_weight=1.0))))
