"""An RPN head that learns only from box-labelled images and proposes for every image."""
from typing import List, Optional, Tuple

from mmdet.models.dense_heads import RPNHead
from mmdet.models.utils import unpack_gt_instances
from mmdet.registry import MODELS
from mmdet.structures import DetDataSample
from mmengine.config import ConfigDict
from mmengine.structures import InstanceData
from torch import Tensor

from ..datasets.image_label_dataset import IMAGE_LABELS_KEY


@MODELS.register_module()
class ImageLabelRPNHead(RPNHead):
    """mmdet's RPNHead whose losses leave out image-labelled images (Detic).

    An image-labelled image (``image_labels`` in its metainfo) has no boxes: every anchor of
    it would be trained as background. Its proposals are still made (the RoI head picks the
    largest for the image-label loss); its anchors take no part in the loss.
    """

    def loss_and_predict(self, x: Tuple[Tensor], batch_data_samples: List[DetDataSample],
                         proposal_cfg: Optional[ConfigDict] = None
                         ) -> Tuple[dict, List[InstanceData]]:
        """mmdet's ``loss_and_predict`` with the losses of the box-labelled images only.

        Args:
            x: FPN levels ``(B, C, H_l, W_l)``.
            batch_data_samples: B samples.
            proposal_cfg: Post-processing config of the proposals.

        Returns:
            ``loss_rpn_cls`` / ``loss_rpn_bbox`` (zero when no image has boxes) and B
            proposal lists.
        """
        gt_instances, gt_ignore, img_metas = unpack_gt_instances(batch_data_samples)
        cls_scores, bbox_preds = self(x)
        boxed = [i for i, s in enumerate(batch_data_samples)
                 if IMAGE_LABELS_KEY not in s.metainfo]
        if boxed:
            def pick(levels):
                return [level[boxed] for level in levels]
            losses = self.loss_by_feat(pick(cls_scores), pick(bbox_preds),
                                       [gt_instances[i] for i in boxed],
                                       [img_metas[i] for i in boxed],
                                       [gt_ignore[i] for i in boxed])
        else:
            zero = sum(s.sum() for s in cls_scores) * 0 + sum(b.sum() for b in bbox_preds) * 0
            losses = dict(loss_rpn_cls=[zero], loss_rpn_bbox=[zero])
        predictions = self.predict_by_feat(cls_scores, bbox_preds, batch_img_metas=img_metas,
                                           cfg=proposal_cfg)
        return losses, predictions
