"""Models: the Res2Net encoders, the AM-Softmax heads, features, the no-learning floor, embedding extraction."""
