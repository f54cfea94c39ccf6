module GcnKd.Tests.GraphTests
