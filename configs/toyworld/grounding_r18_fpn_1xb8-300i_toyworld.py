# GLIP-style grounding on the toy world: ViLD-text's detector, data and schedule with the RoI
# classifier replaced by alignment against the toy CLIP's token features (each name alone, scored
# by its end-of-text token); sigmoid focal loss over tokens on base boxes. See README.md here.
_base_ = './vild-text_r18_fpn_1xb8-300i_toyworld.py'

model = dict(roi_head=dict(bbox_head=dict(
    type='GroundingBBoxHead', embed_dim=128, temperature=0.1, prior_prob=0.01, fusion=None,
    names_per_prompt=1, class_tokens='eot',
    loss_cls=dict(_delete_=True, type='FocalLoss', use_sigmoid=True, gamma=2.0, alpha=0.25,
                  loss_weight=1.0))))
