module GcnKd.Tests.LinalgTests
