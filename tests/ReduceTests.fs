module GcnKd.Tests.ReduceTests
