#include "losses/distill_loss.h"

#include "api/error.h"
#include "api/tensor.h"
#include "losses/feature_term.h"

namespace kds {

bool lossNeedsTeacher(const LossOptions& options) {
  if (options.weightTS != 0) return true;
  for (const auto& term : options.features)
    if (term.weight != 0) return true;
  return false;
}

std::vector<int> featurePositions(const FeatureTermSpec& term, size_t studentCount, size_t teacherCount) {
  const auto& name = term.type;
  if (studentCount == 0 || teacherCount == 0)
    throw Error(ErrorCode::Shape, name + " loss needs feature maps, but the " + (studentCount == 0 ? "student" : "teacher") +
                                      " returns only its output; use a model whose forward returns (features, output), or turn the feature terms off with "
                                      "setLoss({ features: [] }) or setLoss({ SA: false })");
  if (term.positions.empty()) {
    if (studentCount != teacherCount)
      throw Error(ErrorCode::Shape, name + " loss: the teacher returns " + std::to_string(teacherCount) + " feature maps and the student " +
                                        std::to_string(studentCount) + "; choose matching ones with setLoss({ positions: [...] })");
    std::vector<int> all(studentCount);
    for (size_t i = 0; i < studentCount; ++i) all[i] = static_cast<int>(i);
    return all;
  }
  const size_t available = std::min(studentCount, teacherCount);
  for (int p : term.positions)
    if (p < 0 || static_cast<size_t>(p) >= available)
      throw Error(ErrorCode::Shape, name + " loss: feature position " + std::to_string(p) + " does not exist: the teacher returns " +
                                        std::to_string(teacherCount) + " feature maps and the student " + std::to_string(studentCount));
  return term.positions;
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
  parts.total = options.weightDS * parts.DS;
  if (teacher) {
    const auto& tsr = teacher->output;
    if (!tsr.sizes().equals(sr.sizes()))
      throw Error(ErrorCode::Shape, "teacher and student disagree: teacher output " + shapeToString(tsr.sizes().vec()) +
                                        ", student output " + shapeToString(sr.sizes().vec()) + " (different scales?)");
    parts.TS = torch::l1_loss(sr, tsr);
    parts.total = parts.total + options.weightTS * parts.TS;
  }
  for (const auto& spec : options.features) {
    if (spec.weight == 0 || !teacher) {
      parts.features.emplace_back(spec.type, zero);
      continue;
    }
    const auto& term = findFeatureTerm(spec.type);
    FeatureMaps maps;
    maps.positions = featurePositions(spec, student.features.size(), teacher->features.size());
    for (int p : maps.positions) {
      maps.students.push_back(student.features[p]);
      maps.teachers.push_back(teacher->features[p]);
    }
    auto value = featureTermLoss(term, maps, spec.options);
    parts.features.emplace_back(spec.type, value);
    parts.total = parts.total + spec.weight * value;
  }
  return parts;
}

}  // namespace kds
