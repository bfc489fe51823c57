# One phylolm or phyloglm fit per OCR, for tests/test_r_live.py (run only when Rscript and phylolm exist).
#
# Usage: Rscript fit_each.R MODE TREE.nwk PREDICTORS.tsv TRAIT.tsv OUT.csv
#   MODE  lm    phylolm(trait ~ x, model = "BM")
#         glm   phyloglm(trait ~ x, method = "logistic_MPLE"), run to convergence: phyloglm's own L-BFGS-B
#               calls stop at factr = 1e12 (far from the optimum), so the installed function is rebuilt
#               with factr = 100 and maxit = 1000 in each; the script stops if no such call is found.
#   PREDICTORS.tsv  header = species, one row per OCR, NA = no ortholog
#   TRAIT.tsv       header = species, one row
# Writes coef, se, statistic and pvalue of the x term, then convergence, alpha_warn, intercept, alpha and the
# penalised log-likelihood (glm only; NA for lm but the intercept), one row per OCR.

suppressPackageStartupMessages({
  library(ape)
  library(phylolm)
})

args <- commandArgs(trailingOnly = TRUE)
if (length(args) != 5) stop("usage: fit_each.R MODE TREE.nwk PREDICTORS.tsv TRAIT.tsv OUT.csv")
mode <- args[1]
tree <- read.tree(args[2])
predictors <- as.matrix(read.delim(args[3], check.names = FALSE))
trait <- as.matrix(read.delim(args[4], check.names = FALSE))[1, ]

converged_phyloglm <- function() {
  code <- deparse(body(phyloglm))
  if (!any(grepl("factr = 1e+12", code, fixed = TRUE)))
    stop("phyloglm's optimiser calls (factr = 1e+12) not found in this phylolm version")
  code <- gsub("factr = 1e+12", "factr = 100, maxit = 1000", code, fixed = TRUE)
  f <- phyloglm
  body(f) <- parse(text = code)[[1]]
  environment(f) <- environment(phyloglm)
  f
}
if (mode == "glm") fit_glm <- converged_phyloglm()

rows <- lapply(seq_len(nrow(predictors)), function(i) {
  x <- predictors[i, ]
  kept <- names(x)[!is.na(x)]
  data <- data.frame(x = x[kept], trait = trait[kept], row.names = kept)
  pruned <- keep.tip(tree, kept)
  if (mode == "lm") {
    fit <- phylolm(trait ~ x, data = data, phy = pruned, model = "BM")
    cf <- summary(fit)$coefficients
    c(cf["x", c("Estimate", "StdErr", "t.value", "p.value")], NA, NA, cf["(Intercept)", "Estimate"], NA, NA)
  } else {
    fit <- suppressWarnings(fit_glm(trait ~ x, data = data, phy = pruned, method = "logistic_MPLE"))
    cf <- summary(fit)$coefficients
    c(cf["x", c("Estimate", "StdErr", "z.value", "p.value")], fit$convergence, fit$alphaWarn,
      cf["(Intercept)", "Estimate"], fit$alpha, fit$penlogLik)
  }
})
out <- as.data.frame(do.call(rbind, rows))
names(out) <- c("coef", "se", "statistic", "pvalue", "convergence", "alpha_warn", "intercept", "alpha", "penloglik")
write.csv(format(out, digits = 17), args[5], row.names = FALSE, quote = FALSE)
