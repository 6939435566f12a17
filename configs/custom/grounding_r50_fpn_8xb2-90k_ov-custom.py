# GLIP-style grounding on your own COCO-format dataset: the OV-COCO grounding head over the
# custom ViLD-text config's data and variables (coco2ov.py's files). See docs/custom_dataset.md
# and configs/custom/README.md.
_base_ = './vild-text_r50_fpn_8xb2-90k_ov-custom.py'

model = dict(roi_head=dict(bbox_head=dict(
    type='GroundingBBoxHead', embed_dim=512, temperature=0.05, prior_prob=0.01, fusion=None,
    names_per_prompt=1, class_tokens='eot',
    loss_cls=dict(_delete_=True, type='FocalLoss', use_sigmoid=True, gamma=2.0, alpha=0.25,
                  loss_weight=1.0))))
