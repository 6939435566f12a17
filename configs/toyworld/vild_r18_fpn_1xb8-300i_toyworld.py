# ViLD (text + image) on the toy world: ViLD-text's config plus the image branch, distilled onto
# the toy CLIP's embeddings of the regions in region_store (tools/toyworld.py precomputes them
# from the base detector's proposals). Same schedule as ViLD-text.
_base_ = './vild-text_r18_fpn_1xb8-300i_toyworld.py'

work_root = 'work_dirs/toyworld/'
region_store = work_root + 'regions'
model = dict(roi_head=dict(
    type='ViLDRoIHead',
    bbox_head=dict(
        type='ViLDBBoxHead', image_projection='shared',
        loss_distill=dict(type='ViLDDistillationLoss', loss_weight=0.5))))

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='Resize', scale=(128, 128), keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    # After the geometric transforms: the stored boxes follow their homography.
    dict(type='LoadCLIPRegions', store=region_store),
    dict(type='PackDetInputsWithRegions'),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
