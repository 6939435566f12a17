# GLIP-style region-word grounding on OV-COCO: the ViLD-text detector, data and schedule
# (configs/vild/vild-text_r50_fpn_8xb2-90k_ov-coco.py) with the RoI classifier replaced by
# alignment against CLIP ViT-B/32 token features of the class names (48 base names in training,
# all 65 at test time); sigmoid focal loss over tokens; a class is scored by its prompt's
# end-of-text token (class_tokens='eot'; GLIP's mean over the name tokens: 'name').
# names_per_prompt=1 encodes every name alone ("person."), None packs them into GLIP's joint
# prompt "person. bicycle. ..." (worse on the toy world: CLIP's text tower is
# causal, see configs/toyworld/grounding_r18_fpn_1xb8-800i_toyworld.py).
# Deep fusion: fusion=dict(num_heads=8, layer_scale=0.1).
# class_tokens='eot' and a temperature 5x ViLD-text's (0.05 here, 0.1 against 0.02 on the toy
# world) are the toy world's best measured variant (configs/toyworld/grounding_*.py, README);
# the temperature ratio is carried over, not measured on real data.
_base_ = '../vild/vild-text_r50_fpn_8xb2-90k_ov-coco.py'

model = dict(roi_head=dict(bbox_head=dict(
    type='GroundingBBoxHead', embed_dim=512, temperature=0.05, prior_prob=0.01, fusion=None,
    names_per_prompt=1, class_tokens='eot',
    loss_cls=dict(_delete_=True, type='FocalLoss', use_sigmoid=True, gamma=2.0, alpha=0.25,
                  loss_weight=1.0))))
