"""What the demos (command line and web) show of a prediction: detection records, one-line
errors."""
from typing import Dict, List


def detection_records(prediction: Dict, score_thr: float) -> List[Dict]:
    """An inferencer prediction as a list of detections scoring at least ``score_thr``.

    Args:
        prediction: One prediction dict of :class:`~ovdkit.apis.OVDInferencer` (``bboxes``
            as N ``[x1, y1, x2, y2]``, ``scores``, ``labels``, ``label_names``), sorted by
            score.
        score_thr: Lowest score kept.

    Returns:
        ``[{'bbox': [x1, y1, x2, y2], 'score': s, 'label': i, 'name': n}, ...]`` in the
        prediction's order, boxes rounded to 0.01 px and scores to 1e-4; a prediction of a
        caption's phrases (``char_spans``) adds each phrase's ``char_span`` ``[start, end]``.
    """
    records = []
    spans = prediction.get('char_spans')
    for i, (box, score, label, name) in enumerate(zip(
            prediction['bboxes'], prediction['scores'], prediction['labels'],
            prediction['label_names'])):
        if score >= score_thr:
            records.append(dict(bbox=[round(v, 2) for v in box], score=round(score, 4),
                                label=label, name=name))
            if spans is not None:
                records[-1]['char_span'] = list(spans[i])
    return records


def one_line(exc: BaseException) -> str:
    """An exception as one line: its message's lines joined (its type's name if empty)."""
    text = ' '.join(line.strip() for line in str(exc).splitlines() if line.strip())
    return text or type(exc).__name__
