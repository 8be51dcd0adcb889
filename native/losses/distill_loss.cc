#include "losses/distill_loss.h"

#include "api/error.h"
#include "api/tensor.h"
#include "losses/affinity.h"

namespace kds {

std::vector<int> saPositions(const LossOptions& options, size_t studentCount, size_t teacherCount) {
  if (studentCount == 0 || teacherCount == 0)
    throw Error(ErrorCode::Shape, std::string("SA loss needs feature maps, but the ") +
                                      (studentCount == 0 ? "student" : "teacher") +
                                      " returns only its output; use a model whose forward returns (features, output) or setLoss({ SA: false })");
  if (options.positions.empty()) {
    if (studentCount != teacherCount)
      throw Error(ErrorCode::Shape, "SA loss: the teacher returns " + std::to_string(teacherCount) + " feature maps and the student " +
                                        std::to_string(studentCount) + "; choose matching ones with setLoss({ positions: [...] })");
    std::vector<int> all(studentCount);
    for (size_t i = 0; i < studentCount; ++i) all[i] = static_cast<int>(i);
    return all;
  }
  const size_t available = std::min(studentCount, teacherCount);
  for (int p : options.positions)
    if (p < 0 || static_cast<size_t>(p) >= available)
      throw Error(ErrorCode::Shape, "SA loss: feature position " + std::to_string(p) + " does not exist: the teacher returns " +
                                        std::to_string(teacherCount) + " feature maps and the student " + std::to_string(studentCount));
  return options.positions;
}

LossParts distillationLoss(const SrOutput& student, const SrOutput* teacher, const torch::Tensor& hr,
                           const LossOptions& options) {
  const auto& sr = student.output;
  if (!sr.sizes().equals(hr.sizes()))
    throw Error(ErrorCode::Shape, "the student's output " + shapeToString(sr.sizes().vec()) + " does not match HR " +
                                      shapeToString(hr.sizes().vec()) + ": HR must be the student's scale times LR");
  LossParts parts;
  auto zero = torch::zeros({}, sr.options());
  parts.DS = torch::l1_loss(sr, hr);
  parts.TS = zero;
  parts.SA = zero;
  const bool wantSA = options.useSA && options.weightSA != 0;
  if (teacher) {
    const auto& tsr = teacher->output;
    if (!tsr.sizes().equals(sr.sizes()))
      throw Error(ErrorCode::Shape, "teacher and student disagree: teacher output " + shapeToString(tsr.sizes().vec()) +
                                        ", student output " + shapeToString(sr.sizes().vec()) + " (different scales?)");
    parts.TS = torch::l1_loss(sr, tsr);
    if (wantSA) {
      AffinityOptions affinity{options.saImpl, options.eps, options.tile, options.pool, options.poolSize};
      auto positions = saPositions(options, student.features.size(), teacher->features.size());
      torch::Tensor sum = zero;
      for (int p : positions) sum = sum + affinityLoss(student.features[p], teacher->features[p], affinity);
      parts.SA = sum;
    }
  }
  parts.total = options.weightDS * parts.DS + options.weightTS * parts.TS + (wantSA ? options.weightSA * parts.SA : zero);
  return parts;
}

}  // namespace kds
