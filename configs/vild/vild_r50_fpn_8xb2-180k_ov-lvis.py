# ViLD (text + image) on OV-LVIS: ViLD-text's Mask R-CNN config plus the image branch, distilled
# (L1, weight 0.5) onto CLIP ViT-B/32 embeddings of 1x / 1.5x crops of the top-300 proposals of
# every training image, precomputed into region_store (configs/vild/README.md).
_base_ = './vild-text_r50_fpn_8xb2-180k_ov-lvis.py'

# CLIP region store of tools/precompute_clip_regions.py (under the base config's data_root;
# re-pointed with it, or set region_store itself like the variables listed there).
region_store = 'data/lvis/clip_regions/vit-b-32_train_norare'
ovdkit_variables = dict(region_store=region_store)
model = dict(roi_head=dict(
    type='ViLDRoIHead',
    bbox_head=dict(type='ViLDBBoxHead', image_projection='shared',
                   loss_distill=dict(type='ViLDDistillationLoss', loss_weight=0.5))))

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='RandomChoiceResize',
         scales=[(1333, 640), (1333, 672), (1333, 704), (1333, 736), (1333, 768),
                 (1333, 800)],
         keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    # After the geometric transforms: the stored boxes follow their homography.
    dict(type='LoadCLIPRegions', store=region_store),
    dict(type='PackDetInputsWithRegions'),
]
train_dataloader = dict(dataset=dict(dataset=dict(pipeline=train_pipeline)))
