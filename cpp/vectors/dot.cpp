#include "vectors/dot.h"

#include <cmath>
#include <limits>

namespace airtune::vectors {

double dot_exact(const float* a, const float* b, int64_t d) {
  double s[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t i = 0;
  for (; i + 8 <= d; i += 8)
    for (int l = 0; l < 8; ++l) s[l] += static_cast<double>(a[i + l]) * static_cast<double>(b[i + l]);
  for (int l = 0; i + l < d; ++l) s[l] += static_cast<double>(a[i + l]) * static_cast<double>(b[i + l]);
  return ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
}

double dot_error_bound(int64_t d, double norm_a, double norm_b) {
  const double n = static_cast<double>(d < 1 ? 1 : d);
  const double uf = std::ldexp(1.0, -24), ud = std::ldexp(1.0, -53);
  if (n * uf >= 0.5) return std::numeric_limits<double>::infinity();
  const double gamma_f = n * uf / (1 - n * uf), gamma_d = n * ud / (1 - n * ud);
  const double margin = 1 + std::ldexp(1.0, -20);
  return (gamma_f + gamma_d) * norm_a * norm_b * margin + n * std::ldexp(1.0, -100) * (norm_a + 1) * (norm_b + 1);
}

}  // namespace airtune::vectors
