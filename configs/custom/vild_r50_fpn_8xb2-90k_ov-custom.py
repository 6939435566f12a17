# ViLD (text + image) on your own COCO-format dataset: the custom ViLD-text config plus the image
# branch, distilled (L1, weight 0.5) onto CLIP embeddings of proposals precomputed into
# region_store by tools/precompute_clip_regions.py (docs/custom_dataset.md, step 3).
_base_ = './vild-text_r50_fpn_8xb2-90k_ov-custom.py'

# CLIP region store of tools/precompute_clip_regions.py (under the base config's data_root:
# re-pointed with it, or set region_store itself like the other variables).
region_store = 'data/custom/clip_regions/vit-b-32_train_base'
ovdkit_variables = dict(region_store=region_store)
model = dict(roi_head=dict(
    type='ViLDRoIHead',
    bbox_head=dict(type='ViLDBBoxHead', image_projection='shared',
                   loss_distill=dict(type='ViLDDistillationLoss', loss_weight=0.5))))

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='Resize', scale=(1333, 800), keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    # After the geometric transforms: the stored boxes follow their homography.
    dict(type='LoadCLIPRegions', store=region_store),
    dict(type='PackDetInputsWithRegions'),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
