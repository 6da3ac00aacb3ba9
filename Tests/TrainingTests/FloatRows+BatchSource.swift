import Datasets
import TestSupport

extension FloatRows: BatchSource {}
