# GLIP-style grounding on the toy world: regions are scored against the name tokens of the
# vocabulary's prompts, whose features come from the toy CLIP's frozen text tower (loaded
# through pretrained=PATH like real CLIP weights); sigmoid focal loss over tokens on base boxes
# only; tested on every category. Same detector, data, schedule and seed as ViLD-text (its
# config is the base; only the RoI classifier differs).
# names_per_prompt=1 encodes every name alone ("red star."): CLIP's text tower is causal, so in
# a joint prompt ("red square. green square. ...", chunked to the 16-token context) a base
# name's tokens depend on the names before it, which differ between the training prompt (base
# names) and the test prompt (all names). Measured here (800 iterations): joint prompts
# 5.3 / 17.3 / 14.3 novel / base / all AP50, one name a prompt 16.2 / 33.7 / 29.3.
_base_ = './vild-text_r18_fpn_1xb8-800i_toyworld.py'

model = dict(roi_head=dict(bbox_head=dict(
    type='GroundingBBoxHead', embed_dim=128, temperature=0.02, prior_prob=0.01, fusion=None,
    names_per_prompt=1, class_tokens='eot',
    loss_cls=dict(_delete_=True, type='FocalLoss', use_sigmoid=True, gamma=2.0, alpha=0.25,
                  loss_weight=1.0))))
