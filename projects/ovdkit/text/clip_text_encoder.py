"""A frozen open_clip text tower: pooled prompt-ensemble class embeddings and token features."""
import sys
from typing import Dict, List, Optional, Sequence, Union

import open_clip
import torch
import torch.nn.functional as F
from mmengine.utils import ProgressBar
from torch import nn

from .clip_weights import CLIPWeightsError, check_clip_weights_available, looks_like_file
from .templates import name_for_prompt


def create_clip_model(model_name: str, pretrained: Optional[str],
                      device: Union[str, torch.device] = 'cpu') -> nn.Module:
    """Builds an open_clip model in eval mode, refusing to fall back to random weights.

    Args:
        model_name: An ``open_clip.list_models()`` name (OVDKit's ``OVD-*`` configs included).
        pretrained: An open_clip pretrained tag (``'openai'``, ``'laion2b_s34b_b79k'``...), the
            path of a local checkpoint file, or ``None`` for random weights (explicit opt-in).
        device: Where to put the model.

    Raises:
        CLIPWeightsError: unknown model name, unknown tag, missing file, a tag neither cached
            nor downloadable (:func:`check_clip_weights_available`), failed download or a
            checkpoint that does not fit the architecture; the message names model and weights.
    """
    if pretrained is not None and not str(pretrained):
        raise CLIPWeightsError(f'empty pretrained for CLIP model {model_name!r}: give a tag, '
                               f'a checkpoint path, or None for random weights')
    check_clip_weights_available(model_name, pretrained)
    try:
        model = open_clip.create_model(model_name, pretrained=pretrained, device=device,
                                       require_pretrained=pretrained is not None)
    except Exception as exc:  # open_clip raises RuntimeError, but also OSError, KeyError...
        where = 'file' if looks_like_file(str(pretrained)) else 'tag'
        raise CLIPWeightsError(f'cannot load CLIP weights for model {model_name!r} from '
                               f'pretrained {where} {pretrained!r}: {exc}') from exc
    return model.eval()


class CLIPTextEncoder(nn.Module):
    """The text tower of an open_clip model, frozen.

    Args:
        model_name: An ``open_clip.list_models()`` name.
        pretrained: Tag, local checkpoint path, or ``None`` for random weights (tests only).
        device: Initial device; afterwards the encoder follows ``.to()`` like any module.
    """

    def __init__(self, model_name: str, pretrained: Optional[str],
                 device: Union[str, torch.device] = 'cpu') -> None:
        super().__init__()
        self.model_name = model_name
        self.pretrained = pretrained
        clip = create_clip_model(model_name, pretrained, device)
        tower = getattr(clip, 'text', clip)  # CustomTextCLIP keeps its tower in `.text`
        required = ('token_embedding', 'positional_embedding', 'transformer', 'ln_final',
                    'text_projection')
        if not all(hasattr(tower, name) for name in required):
            raise CLIPWeightsError(f'{model_name}: text tower {type(tower).__name__} is not an '
                                   f'open_clip transformer text tower; token features need one')
        self.tower = tower
        self.pool_type = getattr(tower, 'text_pool_type', 'argmax')
        self.eos_id = getattr(tower, 'text_eos_id', None)
        if tower is clip:
            clip.visual = None  # the image tower is not needed here: free its memory
        del clip
        self.tokenizer = open_clip.get_tokenizer(model_name)
        self.context_length = int(self.tower.positional_embedding.shape[0])
        self.embed_dim = self._projected_dim()
        self.requires_grad_(False)
        self.eval()

    def _projected_dim(self) -> int:
        proj = self.tower.text_projection
        if proj is None:
            return int(self.tower.ln_final.normalized_shape[0])
        return int(proj.out_features if isinstance(proj, nn.Linear) else proj.shape[1])

    def train(self, mode: bool = True) -> 'CLIPTextEncoder':
        """Always stays in eval mode: the encoder is frozen."""
        return super().train(False)

    @property
    def device(self) -> torch.device:
        """The device of the encoder's parameters."""
        return self.tower.positional_embedding.device

    def tokenize(self, texts: Sequence[str]) -> torch.Tensor:
        """Tokenises texts, refusing any that would be truncated.

        Returns:
            Token ids, ``(N, context_length)`` int64 on the encoder's device.

        Raises:
            ValueError: a text needs more than ``context_length`` tokens (start and end tokens
                included); it names the text.
        """
        if not self._simple:
            for text in texts:
                self._check_length(text, self.num_tokens(text))
            return self.tokenizer(list(texts)).to(self.device)
        return self._pad([self._ids(text) for text in texts], texts)

    @property
    def _simple(self) -> bool:
        return isinstance(self.tokenizer, open_clip.tokenizer.SimpleTokenizer)

    def _ids(self, text: str) -> List[int]:
        return [self.tokenizer.sot_token_id, *self.tokenizer.encode(text),
                self.tokenizer.eot_token_id]

    def _check_length(self, text: str, n: int) -> None:
        if n > self.context_length:
            raise ValueError(f'prompt {text!r} needs {n} tokens, more than the context '
                             f'length {self.context_length} of {self.model_name}')

    def _pad(self, id_lists: Sequence[List[int]], texts: Sequence[str]) -> torch.Tensor:
        out = torch.zeros(len(id_lists), self.context_length, dtype=torch.long)
        for row, ids in enumerate(id_lists):
            self._check_length(texts[row], len(ids))
            out[row, :len(ids)] = torch.tensor(ids)
        return out.to(self.device)

    def num_tokens(self, text: str) -> int:
        """Number of tokens of ``text`` including the start and end tokens."""
        return len(self.tokenizer.encode(text)) + 2

    def class_prompt_tokens(self, class_names: Sequence[str],
                            templates: Sequence[str]) -> torch.Tensor:
        """Token ids of every (class, template) prompt, class-major: ``(C * T, L)``.

        BPE works word by word, so when a template has a non-alphanumeric character on each
        side of ``{}`` and the name starts and ends with a letter or digit (or touches only
        whitespace), the prompt's ids are the template's pieces' ids around the name's ids:
        C + T tokenisations instead of C x T (96,240 -> 1,283 for LVIS x 80 templates). Other
        prompts are tokenised whole. Equal to tokenising every prompt (tested).
        """
        names = [name_for_prompt(n) for n in class_names]
        prompts = [t.format(n) for n in names for t in templates]
        if not self._simple:
            return self.tokenize(prompts)
        encode = self.tokenizer.encode
        pieces = []
        for t in templates:
            before, after = t.split('{}')
            pieces.append((before, after, encode(before), encode(after)))
        ids = []
        for name in names:
            name_ids = None
            for before, after, before_ids, after_ids in pieces:
                left_ok = not before or not before[-1].isalnum() and (
                    before[-1].isspace() or name[:1].isalnum())
                right_ok = not after or not after[0].isalnum() and (
                    after[0].isspace() or name[-1:].isalnum())
                if left_ok and right_ok:
                    name_ids = encode(name) if name_ids is None else name_ids
                    ids.append([self.tokenizer.sot_token_id, *before_ids, *name_ids,
                                *after_ids, self.tokenizer.eot_token_id])
                else:
                    ids.append(self._ids(before + name + after))
        return self._pad(ids, prompts)

    def _sequence_features(self, tokens: torch.Tensor) -> torch.Tensor:
        """Final-layer-norm features ``(N, L', width)``, ``L'`` = longest prompt of the batch.

        The text transformer is causal: no position attends to a later one, so the padding
        after the longest prompt cannot change any earlier feature and is not computed
        (prompts are ~15 of 77 tokens: several times less work). Non-causal towers run in full.
        """
        tower = self.tower
        attn_mask = tower.attn_mask
        if attn_mask is not None:
            length = int((tokens != 0).sum(dim=1).max())
            tokens, attn_mask = tokens[:, :length], attn_mask[:length, :length]
        cast_dtype = tower.transformer.get_cast_dtype()
        x = tower.token_embedding(tokens).to(cast_dtype)
        x = x + tower.positional_embedding[:tokens.shape[1]].to(cast_dtype)
        x = tower.transformer(x, attn_mask=attn_mask)
        return tower.ln_final(x)

    def _project(self, x: torch.Tensor) -> torch.Tensor:
        proj = self.tower.text_projection
        if proj is None:
            return x
        return proj(x) if isinstance(proj, nn.Linear) else x @ proj

    @torch.no_grad()
    def encode_prompts(self, prompts: Sequence[str], batch_size: int = 256,
                       progress: bool = False) -> torch.Tensor:
        """Pooled, L2-normalised embeddings of prompts, computed in batches.

        Args:
            prompts: N prompt strings.
            batch_size: Prompts per forward pass.
            progress: Show a progress bar (counts prompts).

        Returns:
            ``(N, D)`` float32 tensor on the encoder's device, unit rows.
        """
        return self._encode_tokens_pooled(self.tokenize(prompts), batch_size, progress)

    def _encode_tokens_pooled(self, all_tokens: torch.Tensor, batch_size: int,
                              progress: bool) -> torch.Tensor:
        bar = ProgressBar(len(all_tokens), file=sys.stderr) if progress else None
        out = []
        for start in range(0, len(all_tokens), batch_size):
            tokens = all_tokens[start:start + batch_size]
            x = self._sequence_features(tokens)
            if self.pool_type == 'eos':
                pooled = x[torch.arange(len(x)), (tokens == self.eos_id).int().argmax(-1)]
            else:  # argmax: the end-of-text id is the largest id in the vocabulary
                pooled = x[torch.arange(len(x)), tokens.argmax(-1)]
            out.append(F.normalize(self._project(pooled).float(), dim=-1))
            if bar is not None:
                bar.update(len(tokens))
        if not out:
            return torch.zeros(0, self.embed_dim, device=self.device)
        return torch.cat(out)

    @torch.no_grad()
    def embed_classes(self, class_names: Sequence[str], templates: Sequence[str],
                      batch_size: int = 256, progress: bool = False,
                      names_per_step: int = 1024) -> torch.Tensor:
        """Prompt-ensembled class embeddings, synonyms included.

        Each class's embedding is the L2-normalised mean, over its synonyms x templates, of the
        L2-normalised per-prompt embeddings (CLIP / ViLD; one name: the mean over templates).
        Names are tokenised and encoded ``names_per_step`` at a time, so memory stays bounded
        (``names_per_step x T`` prompts) for vocabularies of any size.

        Args:
            class_names: C entries, each a name or synonyms ``'television|tv|monitor'``;
                underscores become spaces in the prompts.
            templates: T templates with one ``{}`` each.
            batch_size: Prompts per forward pass (prompts of all classes are batched together).
            progress: Show a progress bar (counts prompts).
            names_per_step: Names (synonyms counted) tokenised and encoded at a time.

        Returns:
            ``(C, D)`` float32 tensor, unit rows, in ``class_names`` order.
        """
        names, owners = [], []
        for c, entry in enumerate(class_names):
            for name in entry.split('|'):
                names.append(name)
                owners.append(c)
        owner = torch.tensor(owners, dtype=torch.long, device=self.device)
        total = torch.zeros(len(class_names), self.embed_dim, device=self.device)
        bar = ProgressBar(len(names) * len(templates), file=sys.stderr) if progress else None
        for start in range(0, len(names), names_per_step):
            chunk = names[start:start + names_per_step]
            tokens = self.class_prompt_tokens(chunk, templates)
            emb = self._encode_tokens_pooled(tokens, batch_size, False)
            total.index_add_(0, owner[start:start + len(chunk)],
                             emb.view(len(chunk), len(templates), -1).sum(dim=1))
            if bar is not None:
                bar.update(len(tokens))
        return F.normalize(total, dim=-1)

    @torch.no_grad()
    def encode_tokens(self, prompts: Union[str, List[str]], length: Optional[int] = None,
                      batch_size: int = 256) -> Dict[str, torch.Tensor]:
        """Per-token features of prompts, for region-word grounding.

        Features are the text transformer's outputs after the final layer norm, projected to
        the joint embedding space (the same projection as the pooled embedding; not normalised).
        Padding positions are zeros (and masked out). Prompts go through
        the tower ``batch_size`` at a time, so memory does not grow with their number beyond
        the ``(B, L, D)`` result (20,000 names: the result only).

        Args:
            prompts: One prompt or a list of B prompts (each within the context length).
            length: Positions kept, ``L`` (at least the longest prompt's tokens); default: the
                context length.
            batch_size: Prompts per forward pass.

        Returns:
            dict with ``features`` ``(B, L, D)`` float32, ``attention_mask`` ``(B, L)`` bool
            (True for real tokens, start and end tokens included) and ``token_ids``
            ``(B, L)`` int64.
        """
        if isinstance(prompts, str):
            prompts = [prompts]
        tokens = self.tokenize(prompts)
        length = self.context_length if length is None else length
        longest = int((tokens != 0).sum(dim=1).max())
        if longest > length:
            raise ValueError(f'length {length} cuts prompts of up to {longest} tokens')
        features = None
        for start in range(0, len(tokens), batch_size):
            # the whole context goes in (a non-causal tower reads the padding too)
            computed = self._project(self._sequence_features(
                tokens[start:start + batch_size])).float()[:, :length]
            if features is None:
                features = computed.new_zeros(len(tokens), length, computed.shape[-1])
            features[start:start + len(computed), :computed.shape[1]] = computed
        tokens = tokens[:, :length]
        mask = tokens != 0
        features[~mask] = 0  # padding positions: zeros whatever batch a prompt was in
        return dict(features=features, attention_mask=mask, token_ids=tokens)


class TextEncoderPool:
    """Frozen text encoders built lazily, at most once per (model, pretrained).

    Every kind of the sidecar cache builds its encoders in one pool a process
    (:func:`ovdkit.text.sidecar_cache.shared_encoder_pool`): a cache hit never builds CLIP, and
    vocabulary swaps and other kinds reuse the encoder already built.

    Args:
        device: Device for the encoders.
    """

    def __init__(self, device: Union[str, torch.device] = 'cpu') -> None:
        self.device = device
        self._encoders: Dict[tuple, CLIPTextEncoder] = {}

    def encoder(self, model: str, pretrained: Optional[str]) -> CLIPTextEncoder:
        """The (memoised) frozen text encoder for these weights."""
        key = (model, pretrained)
        if key not in self._encoders:
            self._encoders[key] = CLIPTextEncoder(model, pretrained, device=self.device)
        return self._encoders[key]
