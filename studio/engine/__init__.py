"""Qt-free engine: request and event types, model loading, sampling, previews, images, metadata."""
