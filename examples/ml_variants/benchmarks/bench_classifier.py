"""Three variants of one linear classifier: float64, float32, and int8-quantized weights.

The workflow this example shows: validate an optimization (here quantization) by measuring
every variant on the same machine and workload, then report speedup, compression and the
accuracy change with confidence intervals, and which variants are Pareto-optimal.
numpy only; the data are synthetic (a seeded Gaussian mixture), so the example runs
anywhere without downloads.
"""

import numpy as np

FEATURES, CLASSES, TRAIN, TEST = 512, 64, 6000, 2000


def _data(rng, n, centres):
    labels = rng.integers(0, CLASSES, n)
    x = centres[labels] + rng.normal(0, 5.5, (n, FEATURES))
    return x, labels


def _quantize(w):
    """Symmetric per-column int8 quantization: w ~= q * scale."""
    scale = np.abs(w).max(axis=0) / 127.0
    return np.round(w / scale).astype(np.int8), scale


class Classifier:
    params = [["fp64", "fp32", "int8"]]
    param_names = ["variant"]
    rounds = 4
    repeat = 6

    def setup_cache(self):
        rng = np.random.default_rng(0)
        centres = rng.normal(0, 1, (CLASSES, FEATURES))
        x, y = _data(rng, TRAIN, centres)
        onehot = np.eye(CLASSES)[y]
        # Ridge regression onto one-hot targets: a linear classifier in closed form.
        w = np.linalg.solve(x.T @ x + 10.0 * np.eye(FEATURES), x.T @ onehot)
        x_test, y_test = _data(rng, TEST, centres)
        return {"w": w, "x_test": x_test, "y_test": y_test}

    def setup(self, cache, variant):
        w, x = cache["w"], cache["x_test"]
        self.y = cache["y_test"]
        if variant == "fp64":
            self.weights, self.x = w, x
            self.predict = lambda: np.argmax(self.x @ self.weights, axis=1)
        elif variant == "fp32":
            self.weights, self.x = w.astype(np.float32), x.astype(np.float32)
            self.predict = lambda: np.argmax(self.x @ self.weights, axis=1)
        else:
            self.weights, scale = _quantize(w)
            x_scale = np.abs(x).max() / 127.0
            self.x = np.round(x / x_scale).astype(np.int8)
            # Integer matmul accumulates in int32, as int8 inference kernels do.
            self.predict = lambda: np.argmax(
                (self.x.astype(np.int32) @ self.weights.astype(np.int32)) * scale, axis=1)

    def time_predict(self, cache, variant):
        self.predict()

    def track_accuracy(self, cache, variant):
        return float(np.mean(self.predict() == self.y))

    track_accuracy.unit = "fraction"
    track_accuracy.higher_is_better = True

    def mem_weights(self, cache, variant):
        return self.weights
