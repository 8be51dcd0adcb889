// The feature-distillation terms (the FAKD authors' menu: SA, PSA, RBF, MMD, CA, IA, FSP, AT, fitnet) as
// the glue sees them: names, the options each takes, and an option bag. The math lives in native/losses/
// (one file per term, one row per term in native/losses/feature_registry.cc); see docs/losses.md.
#pragma once
#include <map>
#include <string>
#include <vector>

namespace kds {

enum class TermOptionKind { Number, String };

struct TermOptionInfo {
  std::string name;
  TermOptionKind kind;
};

// What the glue and lib/ need to know about a term; its formula is in docs/losses.md.
struct FeatureTermInfo {
  std::string name;
  std::vector<TermOptionInfo> options;  // every one must be given (lib/ fills in the defaults)
  bool equalChannels;                   // student and teacher maps need the same channel count
  bool equalSize;                       // ... and the same height and width
  int minPositions;                     // FSP pairs consecutive positions: 2; the others 1
};

// The values of a term's options, by name. lib/ validates them; the term checks them again (E_ARG).
struct TermOptions {
  std::map<std::string, double> numbers;
  std::map<std::string, std::string> strings;

  double number(const std::string& key) const;       // E_ARG when missing
  const std::string& text(const std::string& key) const;  // E_ARG when missing
};

// Every registered term, in the registry's order.
const std::vector<FeatureTermInfo>& featureTermInfos();

// The term called `name`; E_ARG naming the known ones otherwise.
const FeatureTermInfo& featureTermInfo(const std::string& name);

}  // namespace kds
