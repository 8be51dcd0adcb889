// The table of feature-distillation terms. Adding a term: one file in terms/ defining its forward, its
// declaration and one row here, and one row in lib/feature-terms.ts (options' defaults and checks).
#include <algorithm>

#include "api/error.h"
#include "api/tensor.h"
#include "losses/feature_term.h"

namespace kds {

torch::Tensor spatialAffinityTerm(const FeatureMaps&, const TermOptions&);        // terms/sa.cc
torch::Tensor pooledSpatialAffinityTerm(const FeatureMaps&, const TermOptions&);  // terms/psa.cc
torch::Tensor gaussianRbfTerm(const FeatureMaps&, const TermOptions&);            // terms/rbf.cc
torch::Tensor meanDiscrepancyTerm(const FeatureMaps&, const TermOptions&);        // terms/mmd.cc
torch::Tensor channelAffinityTerm(const FeatureMaps&, const TermOptions&);        // terms/ca.cc
torch::Tensor instanceAffinityTerm(const FeatureMaps&, const TermOptions&);       // terms/ia.cc
torch::Tensor flowTerm(const FeatureMaps&, const TermOptions&);                   // terms/fsp.cc
torch::Tensor attentionTerm(const FeatureMaps&, const TermOptions&);              // terms/at.cc
torch::Tensor fitnetTerm(const FeatureMaps&, const TermOptions&);                 // terms/fitnet.cc

namespace {

constexpr auto kNumber = TermOptionKind::Number;
constexpr auto kString = TermOptionKind::String;

const std::vector<FeatureTerm>& registry() {
  // name, options, equal channels, equal size, least positions; forward
  static const std::vector<FeatureTerm> terms = {
      {{"SA", {{"impl", kString}, {"eps", kNumber}, {"tile", kNumber}}, false, true, 1}, spatialAffinityTerm},
      {{"PSA", {{"pool", kString}, {"poolSize", kNumber}, {"impl", kString}, {"eps", kNumber}, {"tile", kNumber}}, false, true, 1},
       pooledSpatialAffinityTerm},
      {{"RBF", {{"pool", kString}, {"poolSize", kNumber}, {"P", kNumber}, {"gamma", kNumber}, {"impl", kString}, {"tile", kNumber}}, false, true, 1},
       gaussianRbfTerm},
      {{"MMD", {{"pool", kString}, {"poolSize", kNumber}, {"impl", kString}, {"tile", kNumber}}, false, true, 1}, meanDiscrepancyTerm},
      {{"CA", {{"eps", kNumber}}, true, false, 1}, channelAffinityTerm},
      {{"IA", {}, false, false, 1}, instanceAffinityTerm},
      {{"FSP", {}, true, false, 2}, flowTerm},
      {{"AT", {}, false, true, 1}, attentionTerm},
      {{"fitnet", {}, true, true, 1}, fitnetTerm},
  };
  return terms;
}

std::string knownNames() {
  std::string names;
  for (const auto& t : registry()) names += (names.empty() ? "" : ", ") + t.info.name;
  return names;
}

std::string shapeOf(const torch::Tensor& t) { return shapeToString(t.sizes().vec()); }

}  // namespace

double TermOptions::number(const std::string& key) const {
  auto it = numbers.find(key);
  if (it == numbers.end()) throw Error(ErrorCode::Argument, "feature loss: numeric option '" + key + "' is missing");
  return it->second;
}

const std::string& TermOptions::text(const std::string& key) const {
  auto it = strings.find(key);
  if (it == strings.end()) throw Error(ErrorCode::Argument, "feature loss: option '" + key + "' is missing");
  return it->second;
}

const std::vector<FeatureTermInfo>& featureTermInfos() {
  static const std::vector<FeatureTermInfo> infos = [] {
    std::vector<FeatureTermInfo> out;
    for (const auto& t : registry()) out.push_back(t.info);
    return out;
  }();
  return infos;
}

const FeatureTerm& findFeatureTerm(const std::string& name) {
  for (const auto& t : registry())
    if (t.info.name == name) return t;
  throw Error(ErrorCode::Argument, "unknown feature loss type '" + name + "': expected one of " + knownNames());
}

const FeatureTermInfo& featureTermInfo(const std::string& name) { return findFeatureTerm(name).info; }

torch::Tensor featureTermLoss(const FeatureTerm& term, const FeatureMaps& maps, const TermOptions& options) {
  const auto& name = term.info.name;
  const size_t count = maps.students.size();
  if (maps.teachers.size() != count || maps.positions.size() != count)
    throw Error(ErrorCode::Shape, name + ": " + std::to_string(count) + " student feature maps but " + std::to_string(maps.teachers.size()) +
                                      " teacher feature maps");
  if (count < static_cast<size_t>(std::max(1, term.info.minPositions)))
    throw Error(ErrorCode::Argument, name + " needs at least " + std::to_string(std::max(1, term.info.minPositions)) + " feature position" +
                                         (term.info.minPositions > 1 ? "s (it pairs consecutive ones)" : "") + ", got " + std::to_string(count));
  for (size_t i = 0; i < count; ++i) {
    const auto& s = maps.students[i];
    const auto& t = maps.teachers[i];
    const std::string where = " at position " + std::to_string(maps.positions[i]);
    if (s.dim() != 4 || t.dim() != 4 || s.numel() == 0 || t.numel() == 0)
      throw Error(ErrorCode::Shape, name + ": feature maps must be 4-D (B x C x H x W) and non-empty; got student " + shapeOf(s) +
                                        " and teacher " + shapeOf(t) + where);
    if (s.size(0) != t.size(0))
      throw Error(ErrorCode::Shape, name + ": the student's batch (" + std::to_string(s.size(0)) + ") and the teacher's (" +
                                        std::to_string(t.size(0)) + ") differ" + where);
    if (term.info.equalChannels && s.size(1) != t.size(1))
      throw Error(ErrorCode::Shape, name + " needs the same channel count in student and teacher:" + where + " the student has " +
                                        std::to_string(s.size(1)) + " channels and the teacher " + std::to_string(t.size(1)));
    if (term.info.equalSize && (s.size(2) != t.size(2) || s.size(3) != t.size(3)))
      throw Error(ErrorCode::Shape, name + " needs student and teacher feature maps of the same height and width:" + where +
                                        " the student's is " + shapeOf(s) + " and the teacher's " + shapeOf(t));
  }
  return term.forward(maps, options);
}

}  // namespace kds
