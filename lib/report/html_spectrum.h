/* html_spectrum.h - charts of DLoR spectra for HTML pages (html_report.h), from
 * the splits of lib/dlor_spectrum.h: the paper's Figure 2c (identity versus
 * low-rank contributions of one component alpha I + U V^T) and Figure 3c (the
 * contributions of each branch of a wide, summed form).
 *
 *     dlor_spectral_split s;
 *     dlor_spectral_split_compute(m, n, alpha, ut, vt, k, k, 1, &s, &err);   one component
 *     dlor_html_split_plot(&page, "Layer 2", &s, "alpha I + U V^T of layer 2.");
 *     dlor_spectral_split_compute(m, n, L * alpha, ut, vt, K, r, L, &s, &err); L branches of r columns
 *     dlor_html_branch_chart(&page, "Wide layer", &s, NULL);
 */
#ifndef DLOR_HTML_SPECTRUM_H
#define DLOR_HTML_SPECTRUM_H

#include "dlor_spectrum.h"
#include "html_report.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Width of the spectrum charts: two fit side by side in a row. */
#define DLOR_HTML_SPECTRUM_WIDTH 608

/* Figure 2c: sigma_j, the identity contribution and the low-rank contribution
 * against the index j (linear axes). caption (may be NULL) is followed by the
 * largest deviation of identity + low-rank from sigma_j. */
void dlor_html_split_plot(dlor_html *h, const char *title, const dlor_spectral_split *s, const char *caption);

/* Figure 3c: |contribution| of each branch to each sigma_j, stacked; at most 8
 * series (branches past the seventh are summed into one). */
void dlor_html_branch_chart(dlor_html *h, const char *title, const dlor_spectral_split *s, const char *caption);

/* Largest |identity_j + lowrank_j - sigma_j| relative to sigma_1. */
double dlor_spectral_split_residual(const dlor_spectral_split *s);

#ifdef __cplusplus
}
#endif
#endif
