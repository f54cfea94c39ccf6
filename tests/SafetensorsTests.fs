module GcnKd.Tests.SafetensorsTests
