# GLIP-style grounding on your own COCO-format dataset (the OV-COCO grounding recipe, reading
# what tools/dataset_converters/coco2ov.py writes); variables and data as in
# vild-text_r50_fpn_8xb2-90k_ov-custom.py. See docs/custom_dataset.md.
# class_tokens='eot' and a temperature 5x ViLD-text's (0.05 here, 0.1 against 0.02 on the toy
# world) are the toy world's best measured variant (configs/toyworld/grounding_*.py, README);
# the temperature ratio is carried over, not measured on real data.
_base_ = './vild-text_r50_fpn_8xb2-90k_ov-custom.py'

model = dict(roi_head=dict(bbox_head=dict(
    type='GroundingBBoxHead', embed_dim=512, temperature=0.05, prior_prob=0.01, fusion=None,
    names_per_prompt=1, class_tokens='eot',
    loss_cls=dict(_delete_=True, type='FocalLoss', use_sigmoid=True, gamma=2.0, alpha=0.25,
                  loss_weight=1.0))))
