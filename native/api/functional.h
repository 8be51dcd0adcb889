// Single losses called directly, outside a training session (tests, users with their own loop):
// the value and the gradient with respect to the student's features.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "api/feature_terms.h"
#include "api/tensor.h"

namespace kds {

// A feature map argument: a core tensor, or host values (row-major, float32 or float64) that are read in
// place while the call runs.
struct FeatureInput {
  TensorPtr tensor;
  const void* data = nullptr;
  bool isFloat64 = false;
  Shape shape;
};

// No defaults here: lib/functional.ts sets every field.
struct SpatialAffinityOptions {
  std::string impl;  // "fused" (tiled) or "plain" (the reference formula)
  double eps{};
  int64_t tile{};  // fused only; 0 chooses from the shapes and the device
  std::string pool;  // "none", "max" or "avg"
  int poolSize{};
  bool float64{};  // compute in double precision (inputs converted)
};

struct LossWithGrad {
  double loss = 0;
  TensorPtr grad;  // d loss / d student: the student's shape, on its device, in the computing precision
};

// FAKD's SA loss between student (B x Cs x H x W) and teacher (B x Ct x H x W) feature maps, forward and
// backward, on the student's device (the teacher is moved there). Throws kds::Error (E_SHAPE, E_ARG, E_NAN).
LossWithGrad spatialAffinityLoss(const FeatureInput& student, const FeatureInput& teacher, const SpatialAffinityOptions& options);

// One feature-distillation term (api/feature_terms.h) over lists of student and teacher feature maps, as
// the FAKD authors' FeatureLoss takes them: the unweighted loss summed over the list, and its gradient for
// each student map.
struct FeatureLossResult {
  double loss = 0;
  std::vector<TensorPtr> grads;                // float32: d loss / d students[i], on the students' device
  std::vector<std::vector<double>> grads64;    // float64: the same, as host values (grads is then empty)
  std::vector<Shape> shapes;                   // the students' shapes
};

// Throws kds::Error: E_ARG (unknown type, bad option), E_SHAPE (maps that do not fit), E_NAN.
FeatureLossResult featureLoss(const std::string& type, const std::vector<FeatureInput>& students,
                              const std::vector<FeatureInput>& teachers, const TermOptions& options, bool float64);

}  // namespace kds
