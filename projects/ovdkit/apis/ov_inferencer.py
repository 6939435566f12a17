"""OVDInferencer: mmdet's DetInferencer on any vocabulary, swapped in place."""
import os.path as osp
from collections import OrderedDict
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import mmcv
import numpy as np
from mmdet.apis import DetInferencer
from mmdet.structures import DetDataSample
from mmengine.config import Config
from torch import nn

from ..datasets.exemplar_classes import has_exemplars, resolve_vocabulary_classes
from ..datasets.negative_names import kept_names
from ..datasets.vocabularies import first_names, per_image_vocabularies
from ..models.open_vocabulary_head import open_vocabulary_heads
from ..regions.exemplar_embeddings import ExemplarEmbedder, packed_image
from ..regions.exemplar_vocabulary import DEFAULT_TEXT_WEIGHT, install_vocabulary_classes
from ..text.caption_phrases import CaptionPhrases, PhraseType
from ..utils.atomic_io import write_json_atomic
from ..utils.config_variables import merge_cfg_options
from ..utils.strict_checkpoint import check_state_dict_fits, checkpoint_state_dict
from .detection_drawing import draw_prediction, name_palette, save_drawing
from .per_image_vocabularies import roi_predict_image_by_image

VocabularyType = Union[str, Sequence[str]]
#: A vocabulary with each open-vocabulary head's state for it (what a swap restores).
SavedVocabulary = Tuple[Tuple[str, ...], List[Dict[str, Any]]]


class OVDInferencer(DetInferencer):
    """mmdet's :class:`~mmdet.apis.DetInferencer` for open-vocabulary detectors.

    The detector is built and its checkpoint loaded once; each vocabulary is installed in
    place by every open-vocabulary head's ``use_vocabulary(classes)`` (text embeddings through
    the vocabulary cache, so CLIP's text tower is built at most once per process and never on a
    cache hit). ``model.dataset_meta`` and the visualizer follow the vocabulary, so predictions,
    JSON and drawings carry its names::

        inferencer = OVDInferencer('configs/toyworld/vild-text_....py', 'iter_300.pth')
        out = inferencer(['a.png', 'b.png'], vocabulary='zebra,traffic cone')
        out['predictions'][0]  # {'bboxes': [[x1, y1, x2, y2]], 'scores': [...],
                               #  'labels': [...], 'label_names': [...], 'img_path': ...}

    Args:
        config: Config file path or a loaded :class:`~mmengine.config.Config`.
        checkpoint: Checkpoint file. Required: open-vocabulary inference on random weights
            is never what a user wants.
        device: Device of the model (``'cpu'``, ``'cuda:0'``).
        vocabulary: Initial vocabulary (anything :meth:`set_vocabulary` takes).
        cfg_options: Overrides merged into the config, as ``--cfg-options`` does.
        show_progress: mmdet's own progress bar over batches (on stdout); off by default.
        exemplar_crop_scales: Crop scales of example boxes (classes given by examples, see
            docs/exemplars.md): those of the detector's region store (its ``meta.json``);
            ViLD's (1.0, 1.5) by default.
        exemplar_text_weight: Text weight of classes given by names and examples (0.5: the
            plain normalised mean of the two embeddings).

    Raises:
        FileNotFoundError: the config or checkpoint file does not exist.
        CheckpointMismatchError: the checkpoint's weights do not fit the config's model.
        TypeError: the model has no open-vocabulary head.
    """

    # ``zoom`` enlarges drawings (nearest neighbour), for small images such as the toy world's.
    visualize_kwargs = DetInferencer.visualize_kwargs | {'zoom'}
    #: Vocabularies kept encoded in memory (least recently used dropped): swapping back to one
    #: of them re-encodes and re-reads nothing.
    max_saved_vocabularies = 8

    def __init__(self, config: Union[str, Config], checkpoint: str, device: str = 'cpu',
                 vocabulary: Optional[VocabularyType] = None,
                 cfg_options: Optional[Dict] = None, show_progress: bool = False,
                 exemplar_crop_scales: Sequence[float] = (1.0, 1.5),
                 exemplar_text_weight: float = DEFAULT_TEXT_WEIGHT) -> None:
        self.exemplar_crop_scales = tuple(exemplar_crop_scales)
        self.exemplar_text_weight = exemplar_text_weight
        if isinstance(config, (str, Path)):
            if not osp.isfile(config):
                raise FileNotFoundError(f'config {config} does not exist')
            self.config_path = str(config)
            config = Config.fromfile(str(config))
        else:
            self.config_path = config.filename or '<Config>'
        # checks the overrides, merges them, re-points settings built from changed variables
        merge_cfg_options(config, cfg_options)
        if checkpoint is None or not osp.isfile(str(checkpoint)):
            raise FileNotFoundError(f'checkpoint {checkpoint} does not exist')
        self.checkpoint_path = str(checkpoint)
        self._classes: Tuple[str, ...] = ()
        self._entries: Tuple[str, ...] = ()
        self._caption: Optional[CaptionPhrases] = None
        self._saved: 'OrderedDict[Tuple[str, ...], SavedVocabulary]' = OrderedDict()
        self._per_image: Optional[List[SavedVocabulary]] = None
        super().__init__(model=config, weights=str(checkpoint), device=device,
                         show_progress=show_progress)
        self.heads = open_vocabulary_heads(self.model)
        if not self.heads:
            raise TypeError(
                f'{type(self.model).__name__} of config {self.config_path} has no '
                f'open-vocabulary head (a module with use_vocabulary(classes)); '
                f'OVDInferencer serves ViLD-text, ViLD and grounding models')
        if vocabulary is not None:
            self.set_vocabulary(vocabulary)

    # -- weights ---------------------------------------------------------------------------
    def _load_weights_to_model(self, model: nn.Module, checkpoint: Optional[dict],
                               cfg) -> None:
        """Loads the checkpoint strictly; class names come from the vocabulary, not from it.

        mmdet's loader only warns about missing or unexpected keys, which would leave a head
        at random initialisation without a word: here any difference is an error.
        """
        state = checkpoint_state_dict(checkpoint)
        check_state_dict_fits(state, model, self.checkpoint_path, self.config_path)
        model.load_state_dict(state, strict=True)
        model.dataset_meta = dict(classes=(), palette=[])

    # -- vocabulary --------------------------------------------------------------------------
    @property
    def classes(self) -> Tuple[str, ...]:
        """Names of the vocabulary in use (empty before the first one is set)."""
        return self._classes

    def set_vocabulary(self, vocabulary: VocabularyType) -> Tuple[str, ...]:
        """Installs a vocabulary in every open-vocabulary head; the detector is not rebuilt.

        Args:
            vocabulary: A list of names, a builtin name (``'coco'``, ``'lvis'``,
                ``'ov-coco'``...), a text file (one name per line) or ``'zebra,traffic cone'``;
                ``'television|tv|monitor'`` is one class with synonyms, named by its first;
                ``'-zebra'`` is a negative name: scored, its detections never reported. A
                class may be given by example boxes: a ``VisualClass`` in a list, or an
                exemplar line of a file (docs/exemplars.md).

        Returns:
            The names in label order (negative names left out).

        Raises:
            ValueError: empty vocabulary, blank or duplicate names, or text embeddings whose
                dimension does not match a head.
            ExemplarError: a bad example box (naming its class and the example).
            TypeError: classes given by examples for a grounding head.
        """
        entries = resolve_vocabulary_classes(vocabulary)  # checked; synonyms reach the heads
        names, states = self._saved_vocabulary(entries)
        self._install(states)
        self._classes, self._entries, self._caption = names, entries, None
        self._set_meta(names)
        return names

    def _saved_vocabulary(self, entries: tuple) -> SavedVocabulary:
        """The names of resolved vocabulary classes and each head's state for them, encoded
        on first use (through the embedding caches) and kept for the next
        :attr:`max_saved_vocabularies` swaps; the heads' vocabulary in use is unchanged.
        Classes given by examples are kept by identity (the same ``VisualClass`` objects)."""
        if entries in self._saved:
            self._saved.move_to_end(entries)
            return self._saved[entries]
        in_use = [head.test_vocabulary_state() for _, head in self.heads]
        try:
            if has_exemplars(entries):
                names = tuple(install_vocabulary_classes(
                    self.heads, entries, self._exemplar_embedder, self.exemplar_text_weight))
            else:
                names = kept_names(first_names(entries))  # negative names are not labels
                for head_name, head in self.heads:
                    got = tuple(head.use_vocabulary(entries))
                    if got != names:
                        raise RuntimeError(f'{type(head).__name__} ({head_name}) installed '
                                           f'{len(got)} names instead of the {len(names)} '
                                           f'asked for')
            saved = (names, [head.test_vocabulary_state() for _, head in self.heads])
        finally:
            self._install(in_use)
        self._saved[entries] = saved
        while len(self._saved) > self.max_saved_vocabularies:
            self._saved.popitem(last=False)
        return saved

    def _install(self, states: Sequence[Dict[str, Any]]) -> None:
        for (_, head), state in zip(self.heads, states):
            head.restore_test_vocabulary_state(state)

    def _exemplar_embedder(self, cfg: Dict) -> ExemplarEmbedder:
        """Embeds example boxes with a head's CLIP, cut from the images as this detector's
        test pipeline gives them (as the region store cuts its regions)."""
        return ExemplarEmbedder(cfg.get('model'), cfg.get('pretrained'),
                                self.exemplar_crop_scales, cfg.get('cache_dir', 'data/embeddings'),
                                prepare=lambda image: packed_image(self.pipeline(image)),
                                device=next(self.model.parameters()).device)

    def _set_meta(self, names: Sequence[str]) -> None:
        meta = dict(classes=tuple(names), palette=name_palette(names))
        self.model.dataset_meta = meta
        if self.visualizer is not None:
            self.visualizer.dataset_meta = meta

    @property
    def caption(self) -> Optional[CaptionPhrases]:
        """The caption whose phrases are being grounded, or None (a vocabulary is in use)."""
        return self._caption

    def set_caption(self, caption: str,
                    phrases: Optional[Sequence[PhraseType]] = None) -> CaptionPhrases:
        """Grounds the phrases of a free-form caption from now on (grounding heads only).

        The caption is encoded whole by CLIP's text tower, so each phrase reads the words
        before it; detections are labelled with phrases (``label_names``) and carry the
        phrase's character span in the caption (``char_spans``).

        Args:
            caption: Free-form text (``"the red star next to a blue heart"``), within the
                text tower's context.
            phrases: Substrings of the caption to ground (each occurring once), ``(start,
                end)`` character spans, or ``None`` for the ``" . "``-separated phrases of
                the caption (GLIP).

        Returns:
            The caption and its phrases in label order, with their character spans.

        Raises:
            TypeError: the model has a head that scores class names only (ViLD).
            ValueError: bad phrases, or a caption longer than the context (names the limit).
        """
        for head_name, head in self.heads:
            if not callable(getattr(head, 'use_caption', None)):
                raise TypeError(f'{type(head).__name__} ({head_name}) scores class names '
                                f'only; grounding phrases of a caption needs a grounding head '
                                f'(GroundingBBoxHead), e.g. configs/grounding/')
        parsed = None
        for _, head in self.heads:
            parsed = head.use_caption(caption, phrases)
        self._classes, self._entries, self._caption = parsed.phrases, (), parsed
        self._set_meta(parsed.phrases)
        return parsed

    def __call__(self, inputs, vocabulary: Optional[VocabularyType] = None,
                 batch_size: int = 1, caption: Optional[str] = None,
                 phrases: Optional[Sequence[PhraseType]] = None, **kwargs) -> Dict:
        """Detects the vocabulary's classes in ``inputs``.

        Args:
            inputs: Image path(s), ``(H, W, 3)`` BGR array(s) or a folder.
            vocabulary: Vocabulary to use from now on; ``None`` keeps the current one. A list
                of lists is one vocabulary per image (``[['zebra'], ['cat', 'dog']]``; see
                :func:`~ovdkit.datasets.per_image_vocabularies`): each image
                is scored against its own names, in the same batches (backbone and RPN run
                once per batch), with the results of running it alone; each distinct
                vocabulary is encoded once, and the vocabulary in use is left as it was.
            batch_size: Images per forward pass.
            caption: Ground the phrases of this caption from now on instead of a vocabulary
                (:meth:`set_caption`; grounding heads only).
            phrases: The caption's phrases to ground (see :meth:`set_caption`).
            **kwargs: :class:`~mmdet.apis.DetInferencer` options (``out_dir``,
                ``pred_score_thr``, ``return_vis``, ``no_save_pred``, ``return_datasamples``)
                and ``zoom`` (integer enlargement of the drawings).

        Returns:
            ``{'predictions': [...], 'visualization': [...]}``; each prediction has
            ``bboxes`` (x1, y1, x2, y2 in input pixels), ``scores``, ``labels`` (indices into
            the vocabulary) and ``label_names``, sorted by score; with a caption,
            ``label_names`` are phrases, ``char_spans`` their ``[start, end]`` in it and
            ``caption`` the caption.
        """
        if vocabulary is not None and caption is not None:
            raise ValueError('OVDInferencer: give a vocabulary or a caption, not both')
        if phrases is not None and caption is None:
            raise ValueError('OVDInferencer: phrases were given without their caption')
        if per_image_vocabularies(vocabulary) is not None:
            images = self._inputs_to_list(inputs)
            return self._call_per_image(images, per_image_vocabularies(vocabulary, len(images)),
                                        batch_size, **kwargs)
        if vocabulary is not None:
            self.set_vocabulary(vocabulary)
        if caption is not None:
            self.set_caption(caption, phrases)
        if not self._classes:
            raise ValueError('OVDInferencer: no vocabulary; pass vocabulary=[...] (or a '
                             'caption) to the constructor or the call')
        return super().__call__(inputs, batch_size=batch_size, **kwargs)

    def _call_per_image(self, images: list, vocabularies: Sequence[Sequence[str]],
                        batch_size: int, **kwargs) -> Dict:
        """:meth:`__call__` with one vocabulary per image (:meth:`forward` installs them)."""
        resolved = [resolve_vocabulary_classes(v) for v in vocabularies]
        saved = {}
        for entries in resolved:
            saved[entries] = saved.get(entries) or self._saved_vocabulary(entries)
        queue = [saved[entries] for entries in resolved]
        in_use = [head.test_vocabulary_state() for _, head in self.heads]
        self._per_image = queue
        try:
            return super().__call__(images, batch_size=batch_size, **kwargs)
        finally:
            self._per_image = None
            self._install(in_use)

    def forward(self, inputs: Dict, **kwargs) -> List[DetDataSample]:
        """The model's ``test_step``; with per-image vocabularies, each image's RoIs are
        classified with its own (the vocabulary's names go to the sample's ``vocabulary``)."""
        if self._per_image is None:
            return super().forward(inputs, **kwargs)
        count = len(inputs['data_samples'])
        batch, self._per_image = self._per_image[:count], self._per_image[count:]
        with roi_predict_image_by_image(self.model.roi_head,
                                        lambda i: self._install(batch[i][1])):
            preds = super().forward(inputs, **kwargs)
        for pred, (names, _) in zip(preds, batch):
            pred.set_metainfo(dict(vocabulary=names))
        return preds

    def _names_of(self, pred: DetDataSample) -> Tuple[str, ...]:
        """The names a prediction's labels index: its own vocabulary's, or the one in use."""
        return pred.metainfo.get('vocabulary', self._classes)

    # -- outputs -----------------------------------------------------------------------------
    def visualize(self, inputs: list, preds: List[DetDataSample], return_vis: bool = False,
                  show: bool = False, wait_time: int = 0, draw_pred: bool = True,
                  pred_score_thr: float = 0.3, no_save_vis: bool = False,
                  img_out_dir: str = '', zoom: int = 1, **kwargs) -> Optional[List[np.ndarray]]:
        """Draws boxes, names and scores with mmdet's visualizer.

        Pictures go to ``img_out_dir/vis/<image name>``, written atomically.

        Args:
            zoom: Integer nearest-neighbour enlargement before drawing.

        Returns:
            ``(H * zoom, W * zoom, 3)`` RGB drawings when ``return_vis``, else ``None``.
        """
        out_dir = '' if no_save_vis else img_out_dir
        if not (show or out_dir or return_vis):
            return None
        results = []
        for single_input, pred in zip(inputs, preds):
            if 'vocabulary' in pred.metainfo:
                self.visualizer.dataset_meta = dict(classes=self._names_of(pred),
                                                    palette=name_palette(self._names_of(pred)))
            if isinstance(single_input, str):
                image = mmcv.imread(single_input, channel_order='rgb')
                name = osp.basename(single_input)
            else:
                image = np.ascontiguousarray(single_input[..., ::-1])
                name = f'{self.num_visualized_imgs:08d}.jpg'
            drawn = draw_prediction(self.visualizer, image, pred, name, zoom, pred_score_thr,
                                    show=show, wait_time=wait_time, draw_pred=draw_pred)
            if out_dir:
                save_drawing(drawn, Path(out_dir) / 'vis' / name)
            results.append(drawn)
            self.num_visualized_imgs += 1
        self.visualizer.dataset_meta = self.model.dataset_meta
        return results

    def pred2dict(self, data_sample: DetDataSample, pred_out_dir: str = '') -> Dict:
        """mmdet's prediction dict plus ``label_names`` and ``img_path``.

        With ``pred_out_dir`` it is also written to ``pred_out_dir/preds/<stem>.json``
        (atomically).
        """
        result = super().pred2dict(data_sample, '')
        names = self._names_of(data_sample)
        result['label_names'] = [names[i] for i in result.get('labels', [])]
        if self._caption is not None:
            result['caption'] = self._caption.caption
            result['char_spans'] = [list(self._caption.char_spans[i])
                                    for i in result.get('labels', [])]
        img_path = data_sample.metainfo.get('img_path')  # None for an in-memory image
        if img_path:
            result['img_path'] = img_path
        if pred_out_dir:
            if img_path:
                stem = osp.splitext(osp.basename(img_path))[0]
            else:
                stem = str(self.num_predicted_imgs)
                self.num_predicted_imgs += 1
            write_json_atomic(result, Path(pred_out_dir) / 'preds' / f'{stem}.json')
        return result

