module GcnKd.Tests.KnnTests
