"""LVIS v1 category frequencies, for the LVIS-format test fixture only.

One letter per category in id order (id = position + 1): ``r`` rare (337), ``c`` common (461),
``f`` frequent (405), as the ``frequency`` field of the official ``lvis_v1_val.json`` /
``lvis_v1_train.json`` categories. OVDKit's splits never read this: they take frequencies from
the annotation file a user gives (:func:`ovdkit.datasets.lvis_split`); the fixture writes them
into its files so that the real 337 / 866 split comes out of them.
"""

LVIS_V1_FREQUENCIES: str = (
    'cfffccccccffrrfcrcfrrcfcccfcfrrfcfffcrrrfrfcfccfrfrrfccffffffcrcffcfrcrcccfffrfffrfcrfffff'
    'ccrfffccfccccfrrccffcfrfffrfrcccrcfrfccrrffccrfffrcrfrcfrccfrfcfrcccrfrccrccrcfcfrfcfcffrc'
    'frfcfcccfccfcffrcccccrffccffrrcccrrcffcccrrcffccffrfrrfrrrcrcccrrcrccrrffffcrrfcfrccrrccrr'
    'ffccrffcccrrcffcrcccrrcrrffffrrrfrffrcfrccrccrrcfcrcrfcrcccfrcrccccfcccfcfcffrrffrrrrcrfcc'
    'frcrrrfrfccffrfrffffrrccfcfrrfcfcffcrrcrfccfrcrcfrfcrrfrcccrffcccrrrffrrccrcfcrfffcffrfcrc'
    'ffcccrcrfcfcccccrcfccccfccfrrrrrcccrcrccrrcccfcfcfcfrccrcrrfccrffrfrccfccfccrfcccrcfrfcrcf'
    'rrrfrcfffcrccccfrcfrrcfcffrrffrrcrrcrfcrcrrcrfccfcffcrfcrcrccrrcfrccfrfccffrfrrrfccfrfffcf'
    'frfrrccrfrfffffrfrccrcfcfcrffcfrrrrccfffrrcrffcrfcccccfrfrfrrfrfcccfcffrffffcffrcrfrffccfc'
    'crcfcfrfrrccrffccffcccrcfccffcfrcrrffrrccccrcfccrcfrcccfcrrcffrrrcrrfccrfccrcfffccrfrfcrrr'
    'frcfrfffcrcrrrccffrcrfccffffccccccfccfrrrrrcrrcrrfcrcrfcccrcccrccfcccffcrcfrrccrrrcrcfcfff'
    'crffrccrcfffrrffrrfrfcffrcfcccrcccccrrrcrrfrrcfffcfrfcfrfrfcffcfffffrccrcrrfccffffrcrfrccr'
    'rrfrfccrcfccrcrccfcrfrccrrfffffcfffffrrrrrfcfcfccccffcfcrrrfcfrrffrrfffccfcccccfffcfrcfffr'
    'ccfrccccccfcfcffffffcffffccfffcfcffrfrrcfffrcrccrcccffrfccfcffcrrrcrcrccccffrrrcffccrcrccc'
    'cffcccffcccccccfcfcffcrcccffcccfc'
)
