"""The relevance label scale, at the import path the relevance helpers were given: it lives in omnisage.data.scale,
since the data stage declares and checks it (world.json, the adapters) and data must not import the relevance
stage, which itself imports data and train. Delete this module once no code imports it."""

from __future__ import annotations

from omnisage.data.scale import ESCI as ESCI
from omnisage.data.scale import FIVE_LEVELS as FIVE_LEVELS
from omnisage.data.scale import HOMEDEPOT as HOMEDEPOT
from omnisage.data.scale import MANIFEST_KEY as MANIFEST_KEY
from omnisage.data.scale import RelevanceScale as RelevanceScale
from omnisage.data.scale import scale_of as scale_of
