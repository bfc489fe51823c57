# TACIT's association loop in R, timed: for each OCR, the tree pruned to the species with a prediction, then
# one phylolm (continuous trait) or phyloglm (binary trait) fit per trait vector. Used by
# benchmarks/association.py when Rscript and the phylolm package are available.
#
# Usage: Rscript r_loop.R MODE TREE.nwk PREDICTORS.tsv TRAITS.tsv
#   MODE            lm  -> phylolm(trait ~ x, model = "BM")
#                   glm -> phyloglm(trait ~ x, method = "logistic_MPLE"), phylolm's defaults
#   PREDICTORS.tsv  header = species; one row per OCR; NA = no ortholog
#   TRAITS.tsv      header = species; one row per trait vector (the observed trait or a permulation)
# Prints one line: "fits <N> seconds <elapsed>" (fitting and pruning only; reading the files is not timed).

suppressPackageStartupMessages({
  library(ape)
  library(phylolm)
})

args <- commandArgs(trailingOnly = TRUE)
if (length(args) != 4) stop("usage: r_loop.R MODE TREE.nwk PREDICTORS.tsv TRAITS.tsv")
mode <- args[1]
if (!(mode %in% c("lm", "glm"))) stop("MODE must be lm or glm")
tree <- read.tree(args[2])
predictors <- as.matrix(read.delim(args[3], check.names = FALSE))
traits <- as.matrix(read.delim(args[4], check.names = FALSE))

fits <- 0L
started <- proc.time()[["elapsed"]]
for (i in seq_len(nrow(predictors))) {
  x <- predictors[i, ]
  kept <- names(x)[!is.na(x)]
  pruned <- keep.tip(tree, kept)
  for (j in seq_len(nrow(traits))) {
    data <- data.frame(x = x[kept], trait = traits[j, kept], row.names = kept)
    if (mode == "lm") {
      fit <- phylolm(trait ~ x, data = data, phy = pruned, model = "BM")
    } else {
      if (length(unique(data$trait)) < 2) next
      fit <- suppressWarnings(phyloglm(trait ~ x, data = data, phy = pruned, method = "logistic_MPLE"))
    }
    summary(fit)$coefficients  # the p-value is part of each fit's work in TACIT
    fits <- fits + 1L
  }
}
cat(sprintf("fits %d seconds %.6f\n", fits, proc.time()[["elapsed"]] - started))
